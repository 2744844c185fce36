"""Stand-in for pyspeex-noise in the demo's Home Assistant (see ../README.md): import only."""


class AudioProcessor:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("pyspeex-noise is not installed: the demo has no voice features")
