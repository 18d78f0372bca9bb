"""PLACEHOLDER: replaced by the scoring-core work (issue 2)."""


def join_reasons(reasons: tuple[str, ...]) -> str:
    return "; ".join(reasons)[:255]
