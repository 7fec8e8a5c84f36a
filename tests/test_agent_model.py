"""Model-based test of the back-off agent's pure decision core against a model of supervisor 4.3.

``World`` follows supervisor's ``process.py`` for programs configured as the library renders them
under the agent (``autorestart=false``, ``startretries=0``): whole-second stamps in
``getProcessInfo``, an exit left EXITED, a failed start BACKOFF then FATAL in the same pass, a
stop that lands a moment later. A seeded random driver interleaves, over a
host-wide outage: events delivered late, twice and out of order; actions that land after the
process changed; agent restarts that reload the persisted state; failed state writes; refused
starts (a command missing for a while); a person's hold, release, stop and start.

Invariants: the core's own consistency after every step; supervisor never starts a program by
itself after its autostart; at most one daemon start per decision that calls for one (one per
back-off round); and, once the dependency has been back for ``maximum`` + start window + slack,
every program RUNNING except those a person holds or stopped (none stranded).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

import pytest

from restart_policy.backoff_agent import (
    ACTIVE,
    ALREADY_STARTED,
    NOT_RUNNING,
    Action,
    Observation,
    Reconciler,
    Settings,
)

SETTINGS = Settings(
    initial=1, maximum=8, healthy_reset=10, start_retries=2, start_window=2, max_rearms=None
)
NO_FILE = 20
STARTRETRIES = 0  # as the library renders programs under the agent
DT = 0.1


@dataclass
class SimProcess:
    name: str
    fail_after: float  # how long it runs before it notices the dependency is down
    clean_exit: bool  # exits 0 now and then while healthy (an expected exit)
    state: str = "STOPPED"
    pid: int = 0
    laststart: float = 0.0
    laststop: float = 0.0
    exitstatus: int = 0
    backoff: int = 0
    delay: float = 0.0
    dies_at: float | None = None
    exit_code: int = 1
    killing: bool = False
    stopped_by: str = ""


@dataclass
class World:
    rng: random.Random
    processes: dict[str, SimProcess]
    now: float = 0.0
    db_down: tuple[float, float] = (0.0, 0.0)
    command_missing_until: float = 0.0
    next_pid: int = 100
    events: list[tuple[float, str, str, int, bool]] = field(default_factory=list)
    spawns: list[tuple[str, str]] = field(default_factory=list)  # (name, who asked)

    def db_up(self) -> bool:
        return not (self.db_down[0] <= self.now < self.db_down[1])

    def event(self, p: SimProcess, state: str, expected: bool = False) -> None:
        # delivered late (supervisor dispatches on a later pass; the listener may be busy)
        delay = self.rng.choice([0.0, 0.05, 0.3, 1.0, 2.5])
        self.events.append((self.now + delay, p.name, state, p.pid, expected))
        if self.rng.random() < 0.1:  # and sometimes twice
            self.events.append((self.now + delay + 0.7, p.name, state, p.pid, expected))

    def change(self, p: SimProcess, state: str, expected: bool = False) -> None:
        p.state = state
        if state == "BACKOFF":
            p.backoff += 1
            p.delay = self.now + p.backoff
        self.event(p, state, expected)

    def spawn(self, p: SimProcess, by: str = "supervisor") -> None:
        self.spawns.append((p.name, by))
        self.next_pid += 1
        p.pid, p.laststart, p.exitstatus, p.killing = self.next_pid, self.now, 0, False
        if self.db_up():
            p.dies_at = self.now + 3.5 if p.clean_exit else None
            p.exit_code = 0
        else:
            p.dies_at, p.exit_code = self.now + p.fail_after, 1
        self.change(p, "STARTING")

    def reap(self, p: SimProcess) -> None:
        too_quickly = self.now - p.laststart < SETTINGS.start_window
        p.laststop, p.dies_at = self.now, None
        if p.killing:
            p.killing = False
            self.change(p, "STOPPED")
        elif too_quickly and p.state == "STARTING":
            self.change(p, "BACKOFF")
        else:
            p.backoff, p.exitstatus = 0, p.exit_code
            self.change(p, "EXITED", expected=p.exit_code == 0)
        p.pid = 0

    def step(self) -> None:
        for p in self.processes.values():
            if p.dies_at is not None and self.now >= p.dies_at:
                self.reap(p)
        for p in self.processes.values():  # supervisor's transition() pass
            # autorestart=false: an EXITED process stays EXITED; startretries=0: no BACKOFF spawn
            if p.state == "BACKOFF" and p.backoff <= STARTRETRIES:
                if self.now > p.delay:
                    self.spawn(p)
            elif p.state == "STARTING" and self.now - p.laststart > SETTINGS.start_window:
                p.backoff = 0
                self.change(p, "RUNNING")
            if p.state == "BACKOFF" and p.backoff > STARTRETRIES:
                p.backoff = 0
                self.change(p, "FATAL")
            if p.state == "RUNNING" and p.dies_at is None and not self.db_up():
                p.dies_at, p.exit_code = self.now + p.fail_after + 0.5, 1

    def info(self, p: SimProcess) -> Observation:
        return Observation(
            name=p.name,
            state=p.state,
            pid=p.pid,
            start=float(int(p.laststart)),
            stop=float(int(p.laststop)),
            now=float(int(self.now)),
            exitstatus=p.exitstatus,
        )

    # --- XML-RPC ---------------------------------------------------------------------

    def start_process(self, name: str, by: str) -> int:
        p = self.processes[name]
        if self.now < self.command_missing_until:
            return NO_FILE
        if p.state in ("STARTING", "RUNNING", "BACKOFF"):
            return ALREADY_STARTED
        if p.state == "STOPPING":
            return 30
        self.spawn(p, by)
        return 0

    def stop_process(self, name: str, by: str) -> int:
        p = self.processes[name]
        if p.state not in ("STARTING", "RUNNING", "BACKOFF"):
            return NOT_RUNNING
        p.stopped_by = by
        if p.state == "BACKOFF":
            p.dies_at = None
            self.change(p, "STOPPED")
            return 0
        p.killing = True
        p.dies_at = self.now + self.rng.choice([0.05, 0.2, 0.6])
        self.change(p, "STOPPING")
        return 0


class Driver:
    """The agent's shell, in the model: carries out actions (late), persists, restarts."""

    def __init__(self, world: World, seed: int, *, restarts: bool, write_failures: bool) -> None:
        self.world = world
        self.seed = seed
        self.restarts = restarts
        self.write_failures = write_failures
        self.saved: str = json.dumps({"version": 2, "processes": {}})
        self.core = self.new_core()
        self.starts_per_round: dict[tuple[str, int], int] = {}
        self.epoch: dict[str, int] = {}
        self.queue: list[tuple[float, int, Action]] = []
        self.held: set[str] = set()
        self.stops: dict[str, float] = {}
        self.person_stopped: set[str] = set()

    def new_core(self) -> Reconciler:
        records = Reconciler.records_from_json(json.loads(self.saved))
        core = Reconciler({"p": SETTINGS}, records, rng=random.Random(self.seed))
        return core

    def save(self) -> None:
        if self.core.dirty:
            self.core.dirty = False
            if self.write_failures and self.world.rng.random() < 0.3:
                return  # the write failed; the agent goes on from memory
            self.saved = json.dumps(self.core.to_json())

    def restart(self) -> None:
        self.core = self.new_core()
        self.queue.clear()  # calls in flight die with the agent
        self.scan()  # as the listener does: supervisor's state first, then the person's file
        self.take(self.core.person(self.held, self.stops, self.world.now))

    def take(self, actions: list[Action]) -> None:
        self.save()  # persist before acting
        logged: dict[str, str] = {}
        for action in actions:
            if action.kind == "log":
                logged[action.name] = action.decision
                # a decision that calls for one start (or lets a person act) opens a new epoch
                if action.decision in (
                    "backoff", "restart", "retry", "reset", "manual-start", "hold", "release",
                ):  # fmt: skip
                    self.epoch[action.name] = self.epoch.get(action.name, 0) + 1
                continue
            if action.kind == "stop":  # only its own start, right after a person's stop
                assert logged.get(action.name) == "manual-stop", (action, logged)
            # the call lands a moment later, when the process may have moved on
            lag = self.world.rng.choice([0.0, 0.0, 0.1, 0.4])
            self.queue.append((self.world.now + lag, self.epoch.get(action.name, 0), action))

    def land(self) -> None:
        now = self.world.now
        ready = [q for q in self.queue if q[0] <= now]
        self.queue = [q for q in self.queue if q[0] > now]
        for _, epoch, action in ready:
            if action.kind == "stop":
                self.world.stop_process(action.name, "agent")
                continue
            spawned = len(self.world.spawns)
            code = self.world.start_process(action.name, "agent")
            if len(self.world.spawns) > spawned:
                # counted when it lands: one lost with the agent is none
                key = (action.name, epoch)
                self.starts_per_round[key] = self.starts_per_round.get(key, 0) + 1
            if code:
                self.take(self.core.start_refused(action.name, code, "fault", now))
            else:
                p = self.world.processes[action.name]
                self.take(self.core.started(self.world.info(p), now))

    def scan(self) -> None:
        acts: list[Action] = []
        for p in self.world.processes.values():
            acts += self.core.observe(self.world.info(p), self.world.now)
        self.take(acts)

    def deliver_events(self) -> None:
        now = self.world.now
        ready = [e for e in self.world.events if e[0] <= now]
        self.world.events = [e for e in self.world.events if e[0] > now]
        self.world.rng.shuffle(ready)  # reordered
        for _, name, state, pid, expected in ready:
            if state == "EXITED":
                self.take(self.core.exit_fact(name, pid, expected, now))
            self.take(self.core.observe(self.world.info(self.world.processes[name]), now))


def simulate(seed: int) -> None:
    rng = random.Random(seed)
    names = [f"p:p-{i}" for i in range(rng.randint(2, 6))]
    processes = {
        n: SimProcess(n, fail_after=rng.choice([0.2, 0.5, 3.0]), clean_exit=rng.random() < 0.2)
        for n in names
    }
    down_from = 1003.0  # supervisor's stamps are epoch seconds; 0 is "never started"
    down_to = down_from + rng.uniform(5, 30)
    world = World(rng, processes, now=down_from - 3, db_down=(down_from, down_to))
    if rng.random() < 0.3:
        world.command_missing_until = down_to + rng.uniform(0, 10)
    driver = Driver(world, seed, restarts=rng.random() < 0.5, write_failures=rng.random() < 0.3)
    for p in processes.values():
        world.spawn(p, "autostart")
    end = down_to + SETTINGS.maximum + SETTINGS.start_window + 12
    quiet_from = down_to + 1  # the person does nothing after the outage ends
    last_scan = -10.0
    down_since: dict[str, float] = {}
    while world.now < end:
        world.now = round(world.now + DT, 3)
        world.step()
        driver.deliver_events()
        driver.land()
        if world.now - last_scan >= 5:
            last_scan = world.now
            driver.scan()
        wake = driver.core.next_wakeup()
        if wake is not None and wake <= world.now:
            driver.take(driver.core.tick(world.now))
        if driver.restarts and rng.random() < 0.004:
            driver.restart()
        if world.now < quiet_from and rng.random() < 0.01:
            person(driver, rng)
        assert driver.core.check() == [], (seed, driver.core.check())
        stranded(driver, down_since)
    # the person lets go of every hold; a person's stop stays a stop
    driver.held.clear()
    driver.take(driver.core.person(set(), driver.stops, world.now))
    tail = world.now + SETTINGS.maximum + SETTINGS.start_window + 8
    while world.now < tail:
        world.now = round(world.now + DT, 3)
        world.step()
        driver.deliver_events()
        driver.land()
        if world.now - last_scan >= 5:
            last_scan = world.now
            driver.scan()
        wake = driver.core.next_wakeup()
        if wake is not None and wake <= world.now:
            driver.take(driver.core.tick(world.now))
    for name, p in processes.items():
        if name in driver.person_stopped and p.state in ("STOPPED", "FATAL", "EXITED"):
            continue
        record = driver.core.records.get(name)
        assert p.state in ("RUNNING", "STARTING") or (
            p.clean_exit and p.state in ACTIVE | {"EXITED"}
        ), (seed, name, p.state, record)
    over = {k: v for k, v in driver.starts_per_round.items() if v > 1}
    assert not over, (seed, over)
    assert not [s for s in world.spawns if s[1] == "supervisor"], seed


def stranded(driver: Driver, down_since: dict[str, float]) -> None:
    """Every program FATAL or EXITED has, once the agent had time to look, a due start, a start
    under way, a person's hold or stop, or max_rearms reached."""
    world = driver.world
    for name, p in world.processes.items():
        down = p.state in ("FATAL", "EXITED")
        if not down:
            down_since.pop(name, None)
            continue
        since = down_since.setdefault(name, world.now)
        if world.now - since < 10:  # events arrive up to a few seconds late; scans every 5 s
            continue
        r = driver.core.records.get(name)
        assert r is not None, (driver.seed, name, "never seen")
        covered = (
            r.held
            or r.phase in ("person-stopped", "given-up")
            or (r.phase == "cooling" and r.due is not None)
            or (r.phase == "probing" and r.probe_start is None and r.probe_at is not None)
        )
        assert covered, (driver.seed, name, p.state, r)


def person(driver: Driver, rng: random.Random) -> None:
    world = driver.world
    name = rng.choice(sorted(world.processes))
    what = rng.choice(["hold", "release", "stop", "start"])
    if what == "hold":
        driver.held.add(name)
    elif what == "release":
        driver.held.discard(name)
    elif what == "stop":  # the wrapper: supervisorctl stop, then the agent's `stop`
        world.stop_process(name, "person")
        driver.stops[name] = world.now
        driver.person_stopped.add(name)
    else:
        if world.start_process(name, "person") == 0:
            driver.person_stopped.discard(name)
    driver.take(driver.core.person(driver.held, driver.stops, world.now))


@pytest.mark.parametrize("block", range(10))
def test_no_program_is_stranded_and_one_start_per_round(block: int) -> None:
    for seed in range(block * 100, block * 100 + 100):
        simulate(seed)
