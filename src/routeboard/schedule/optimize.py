"""Reordering one technician's day to cut driving (OR-Tools routing with time windows).

Pure: plain data in, a proposal out; the caller runs it in a worker thread because the solver is
CPU-bound. Pinned jobs keep their exact start; the others may move anywhere inside working hours
and their customer's window. Driving counts from home base to the last job (the day ends there).
If the solver finds nothing better than the dispatcher's order, the original order is returned,
so a proposal is never worse than what it replaces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from routeboard.schedule.feasibility import Stop, TechDay, Travel, drive_minutes


@dataclass(frozen=True)
class Proposal:
    order: tuple[Stop, ...]  # every job of the day with its proposed start and end
    drive_before: float
    drive_after: float


def _minutes(origin: datetime, t: datetime) -> int:
    return int((t - origin).total_seconds() // 60)


def optimize_day(day: TechDay, travel: Travel, *, time_limit_seconds: float = 1.5) -> Proposal:
    stops = sorted(day.stops, key=lambda s: s.start)
    before = drive_minutes(day, stops, travel)
    movable = [s for s in stops if not s.pinned]
    if day.hours is None or len(movable) < 2:
        return Proposal(tuple(stops), before, before)
    origin, close = day.hours
    horizon = _minutes(origin, close)
    points = [day.home, *(s.point for s in stops)]
    exact = [[travel(a, b).minutes for b in points] for a in points]
    drive = [[round(m) for m in row] for row in exact]
    # Timing rounds drives up, so a proposed start is never earlier than the real drive allows.
    slow = [[math.ceil(m) for m in row] for row in exact]
    n = len(points)
    manager = pywrapcp.RoutingIndexManager(n, 1, 0)
    routing = pywrapcp.RoutingModel(manager)

    def cost(i: int, j: int) -> int:
        a, b = manager.IndexToNode(i), manager.IndexToNode(j)
        return 0 if b == 0 else drive[a][b]  # the day ends at the last site: no drive home

    def transit(i: int, j: int) -> int:
        a, b = manager.IndexToNode(i), manager.IndexToNode(j)
        service = 0 if a == 0 else round(stops[a - 1].minutes)
        return service + (0 if b == 0 else slow[a][b])

    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitCallback(cost))
    time_cb = routing.RegisterTransitCallback(transit)
    routing.AddDimension(time_cb, horizon, horizon, False, "time")
    dim = routing.GetDimensionOrDie("time")
    dim.CumulVar(routing.Start(0)).SetRange(0, 0)
    for node, stop in enumerate(stops, start=1):
        var = dim.CumulVar(manager.NodeToIndex(node))
        if stop.pinned:
            at = _minutes(origin, stop.start)
            var.SetRange(at, at)
            continue
        low = 0
        high = horizon - round(stop.minutes)
        if stop.window_start:
            low = max(low, _minutes(origin, stop.window_start))
        if stop.window_end:
            high = min(high, _minutes(origin, stop.window_end))
        if low > high:
            return Proposal(tuple(stops), before, before)
        var.SetRange(low, high)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromMilliseconds(int(time_limit_seconds * 1000))
    # Start from the dispatcher's order (it satisfies the model): the solver then only has to
    # improve on it, instead of searching for any feasible order from scratch.
    seed = routing.ReadAssignmentFromRoutes([[manager.NodeToIndex(i) for i in range(1, n)]], True)
    if seed is not None:
        solution = routing.SolveFromAssignmentWithParameters(seed, params)
    else:
        solution = routing.SolveWithParameters(params)
    if solution is None:
        return Proposal(tuple(stops), before, before)
    order: list[Stop] = []
    index = solution.Value(routing.NextVar(routing.Start(0)))
    while not routing.IsEnd(index):
        stop = stops[manager.IndexToNode(index) - 1]
        start = origin + timedelta(minutes=solution.Min(dim.CumulVar(index)))
        order.append(
            Stop(**{**stop.__dict__, "start": start, "end": start + (stop.end - stop.start)})
        )
        index = solution.Value(routing.NextVar(index))
    after = drive_minutes(day, order, travel)
    if after >= before - 0.5:
        return Proposal(tuple(stops), before, before)
    return Proposal(tuple(order), before, after)
