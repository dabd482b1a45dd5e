"""Simulate one virtual patient with simglucose and print the CGM samples as JSON.

Run in the benchmark's own venv (.venv-bench, scripts/requirements_bench.txt), by
scripts/bench_forecast.py, one process per patient:

    python scripts/bench_forecast_sim.py PATIENT DAYS SEED BOLUS_SHARE BOLUS_FACTOR

The patient follows simglucose's RandomScenario meals and its BBController (basal-bolus),
with the noise of its "Dexcom" sensor (a sample every 3 minutes, kept within 39-600 mg/dL).
On a share of meals, chosen at random with the seed, the meal bolus is multiplied by a
factor: an overestimated meal, to produce more hypoglycaemia than the default scenario.
Output: {"start": ISO time, "samples": [[minutes after start, mg/dL], ...]}, one sample
per 3 minutes, each the sensor's own reading at that minute.

simglucose's ODE solver calls the patient model about 20 times per simulated minute, and
each call reads some 40 parameters from a pandas row, which is most of the run time. The
patient here reads the same values as plain attributes: the same simulation, faster.
"""

from __future__ import annotations

from datetime import datetime, timedelta
import json
import random
import sys
from typing import Any

from simglucose.actuator.pump import InsulinPump
from simglucose.controller.basal_bolus_ctrller import BBController
from simglucose.controller.base import Action
from simglucose.patient.t1dpatient import T1DPatient
from simglucose.sensor.cgm import CGMSensor
from simglucose.simulation.env import T1DSimEnv
from simglucose.simulation.scenario_gen import RandomScenario

# simglucose's scenarios work in naive local time.
START = datetime(2026, 1, 5)  # noqa: DTZ001


class Parameters:
    """A patient's parameters: the values of simglucose's pandas row, as plain attributes."""

    def __init__(self, row: Any) -> None:  # noqa: ANN401 (a pandas Series)
        """Copy each value of the row; `iloc` stays the row's (for the initial state)."""
        self.__dict__.update({name: row[name] for name in row.index})
        self.iloc = row.iloc


class Patient(T1DPatient):  # type: ignore[misc]
    """simglucose's patient, with its parameters read without pandas."""

    def __init__(self, params: Any, **kwargs: Any) -> None:  # noqa: ANN401
        """Make the patient from its pandas row, as T1DPatient.withName does."""
        super().__init__(Parameters(params), **kwargs)


class OverBolus(BBController):  # type: ignore[misc]
    """simglucose's basal-bolus controller, with a larger bolus on a share of meals."""

    def __init__(self, share: float, factor: float, seed: int) -> None:
        """Multiply the bolus by `factor` on a `share` of meals, chosen with the seed."""
        super().__init__()
        self.share = share
        self.factor = factor
        self.random = random.Random(seed)
        self.boosted = False
        self.eating = False

    def policy(  # noqa: D102 (simglucose's signature)
        self,
        observation: Any,  # noqa: ANN401
        reward: float,
        done: bool,  # noqa: FBT001
        **kwargs: Any,  # noqa: ANN401
    ) -> Action:
        # Decide once per meal whether its bolus is larger; scale it if so.
        action = super().policy(observation, reward, done, **kwargs)
        meal = kwargs.get("meal", 0) > 0
        if meal and not self.eating:
            self.boosted = self.random.random() < self.share
        self.eating = meal
        if meal and self.boosted:
            return Action(basal=action.basal, bolus=action.bolus * self.factor)
        return action


def simulate(name: str, days: float, seed: int, share: float, factor: float) -> dict[str, Any]:
    """Return the sensor samples of one patient over the days."""
    sensor = CGMSensor.withName("Dexcom", seed=seed)
    env = T1DSimEnv(
        Patient.withName(name),
        sensor,
        InsulinPump.withName("Insulet"),
        RandomScenario(start_time=START, seed=seed),
    )
    controller = OverBolus(share, factor, seed)
    observation, reward, done, info = env.reset()
    samples = []
    end = START + timedelta(days=days)
    while env.time < end:
        action = controller.policy(observation, reward, done, **info)
        observation, reward, done, info = env.step(action)
        minutes = (env.time - START) / timedelta(minutes=1)
        samples.append([round(minutes, 3), round(float(sensor._last_CGM), 2)])  # noqa: SLF001
    return {"start": START.isoformat(), "samples": samples}


def main() -> None:
    """Simulate the patient named on the command line."""
    name, days, seed, share, factor = sys.argv[1:6]
    json.dump(simulate(name, float(days), int(seed), float(share), float(factor)), sys.stdout)


if __name__ == "__main__":
    main()
