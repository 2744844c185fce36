"""Stand-in for pymicro-vad in the demo's Home Assistant (see ../README.md): import only."""


class MicroVad:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("pymicro-vad is not installed: the demo has no voice features")
