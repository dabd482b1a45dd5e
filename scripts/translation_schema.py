"""Home Assistant's rules for an integration's translation files, as hassfest applies them.

hassfest (script/hassfest/translations.py in Home Assistant's repository) is not part of the
installed package, so this is an equivalent voluptuous schema built from its rules: the
sections an integration may have and the keys of each; translation keys in lower case;
texts without HTML, URLs, leading or trailing spaces, combined references or placeholders in
single quotes; placeholders that are identifiers, and none in entity states or attribute
names; a field description only for a field that has a label; an issue with a description.
"""

from __future__ import annotations

from collections.abc import Callable
import re
import string
from typing import Any

from homeassistant.helpers import config_validation as cv
import voluptuous as vol

KEY = re.compile(r"^(?![_-])(?!.*[_-]{2})[a-z0-9_-]+(?<![_-])$")
URL = re.compile(
    r"((ftps?|scp|https?|mqtts?|socket|socks5)://|www\.)"
    r"[a-z0-9]+([-.][a-z0-9]+)*\.[a-z]{2,5}(:[0-9]{1,5})?(/.*)?",
    re.IGNORECASE,
)
QUOTED_PLACEHOLDER = re.compile(r"'\{\w+\}'")
COMBINED_REFERENCE = re.compile(r"(.+\[%)|(%\].+)")


def translation_key(value: object) -> str:
    """Accept a key of lower-case letters, digits, - and _, not at either end nor doubled."""
    if not isinstance(value, str) or not KEY.match(value):
        raise vol.Invalid(f"invalid translation key {value!r}: use [a-z0-9-_]")
    return value


def text(given: object, *, placeholders: bool = True) -> str:
    """Accept a translated text as Home Assistant shows it."""
    value = cv.string_with_no_html(given)
    if QUOTED_PLACEHOLDER.search(value):
        raise vol.Invalid("placeholders must not be in single quotes")
    for _, name, _, _ in string.Formatter().parse(value):
        if name and not placeholders:
            raise vol.Invalid("placeholders are not allowed here")
        if name and not name.isidentifier():
            raise vol.Invalid(f"placeholder {name!r} is not an identifier")
    if COMBINED_REFERENCE.search(value):
        raise vol.Invalid("a reference ([%key:...%]) must be the whole text")
    if value != value.strip():
        raise vol.Invalid("the text starts or ends with spaces")
    if URL.search(value):
        raise vol.Invalid("URLs belong in description placeholders")
    return value


def plain(value: object) -> str:
    """Accept a text without placeholders."""
    return text(value, placeholders=False)


def keyed(
    schema: dict[Any, Any] | Callable[..., Any], slug: Callable[[Any], str] = translation_key
) -> Callable[[Any], Any]:
    """Accept a dictionary whose keys pass `slug` and whose values pass `schema`."""
    return cv.schema_with_slug_keys(schema, slug_validator=slug)


def texts() -> dict[Any, Any]:
    """Accept a dictionary of texts under any keys."""
    return {str: text}


def described_fields_exist(flow: dict[str, Any]) -> dict[str, Any]:
    """Reject a field description of a step whose field has no label."""
    for step_id, step in flow["step"].items():
        for field in step.get("data_description", {}):
            if field not in step.get("data", {}):
                raise vol.Invalid(f"step {step_id}: data_description {field} is not in data")
    return flow


def flow_schema() -> vol.All:
    """Accept a config, options or repair flow."""
    section = {
        vol.Optional("name"): text,
        vol.Optional("description"): text,
        vol.Optional("data"): texts(),
        vol.Optional("data_description"): texts(),
    }
    step = {
        vol.Optional("title"): text,
        vol.Optional("description"): text,
        vol.Optional("data"): texts(),
        vol.Optional("data_description"): texts(),
        vol.Optional("menu_options"): texts(),
        vol.Optional("menu_option_descriptions"): texts(),
        vol.Optional("submit"): text,
        vol.Optional("sections"): {str: section},
    }
    flow = {
        vol.Optional("flow_title"): text,
        vol.Required("step"): {str: step},
        vol.Optional("error"): texts(),
        vol.Optional("abort"): texts(),
        vol.Optional("progress"): texts(),
        vol.Optional("create_entry"): texts(),
        vol.Optional("initiate_flow"): {vol.Required("user"): text},
    }
    return vol.All(vol.Schema(flow), described_fields_exist)


ENTITY = {
    vol.Optional("name"): text,
    vol.Optional("state"): keyed(plain),
    vol.Optional("state_attributes"): keyed(
        {vol.Optional("name"): plain, vol.Optional("state"): keyed(plain)}
    ),
    vol.Optional("unit_of_measurement"): plain,
}
FIELD: dict[Any, Any] = {vol.Required("name"): str, vol.Required("description"): text}
ISSUE = vol.All(
    cv.has_at_least_one_key("description", "fix_flow"),
    vol.Schema(
        {
            vol.Required("title"): text,
            vol.Exclusive("description", "fixable"): text,
            vol.Exclusive("fix_flow", "fixable"): flow_schema(),
        }
    ),
)
SERVICE = {
    vol.Required("name"): text,
    vol.Required("description"): text,
    vol.Optional("fields"): keyed({**FIELD, vol.Optional("example"): text}),
    vol.Optional("sections"): keyed({vol.Required("name"): str, vol.Optional("description"): text}),
}
SELECTOR = {
    vol.Optional("options"): keyed(text),
    vol.Optional("choices"): keyed(text),
    vol.Optional("unit_of_measurement"): keyed(text),
    vol.Optional("fields"): keyed(FIELD),
}

SCHEMA = vol.Schema(
    {
        vol.Optional("title"): text,
        vol.Optional("config"): flow_schema(),
        vol.Optional("options"): flow_schema(),
        vol.Optional("selector"): keyed(SELECTOR, vol.Any("_", cv.slug)),
        vol.Optional("device"): keyed({vol.Optional("name"): text}),
        vol.Optional("entity"): keyed(keyed(ENTITY), cv.slug),
        vol.Optional("exceptions"): keyed({vol.Optional("message"): text}, cv.slug),
        vol.Optional("issues"): {str: ISSUE},
        vol.Optional("services"): keyed(SERVICE),
        vol.Optional("system_health"): {vol.Optional("info"): keyed(text)},
    }
)
