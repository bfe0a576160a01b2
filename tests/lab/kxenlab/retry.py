"""Boot L1 again when it died before the command started (e.g. an early TCG panic).

A command that started is never run again: it may have had side effects (files written in
the shares, a test half done), so its run's failure is reported as it is.
"""

from typing import Callable, Protocol

from .session import EXIT_L1_FAILED, Failure

ATTEMPTS = 3   # one boot plus up to two more


class Run(Protocol):
    failure: Failure | None

    def run(self) -> int: ...


def run_with_retries(new_session: Callable[[], Run], attempts: int = ATTEMPTS) -> int:
    """The status of the first run that got past L1's boot, or of the last attempt."""
    assert attempts >= 1
    for attempt in range(1, attempts + 1):
        session = new_session()
        status = session.run()
        failure = session.failure
        if status != EXIT_L1_FAILED or failure is None:
            return status
        if not failure.retryable or attempt == attempts:
            failure.report(f"lab: L1 failed: {failure.why}")
            return status
        failure.report(f"lab: L1 failed before CMD started ({failure.why}); "
                       f"retrying (attempt {attempt + 1}/{attempts})")
    raise AssertionError("unreachable: the last attempt returns")
