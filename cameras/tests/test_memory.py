"""The per-process memory utility of the frame pipeline (cameras.memory)."""

from __future__ import annotations

from cameras.memory import ProcessMemory, forget_all


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_is_served_until_its_ttl_then_forgotten():
    clock = Clock()
    memory = ProcessMemory("test", maxsize=10, ttl=5.0, timer=clock)
    memory.set(("camera", 1), "a")
    clock.now = 4.9
    assert memory.get(("camera", 1)) == "a"
    clock.now = 5.0
    assert memory.get(("camera", 1)) is None
    assert len(memory) == 0


def test_the_ttl_follows_its_setting_at_each_lookup(settings):
    clock = Clock()
    settings.FACE_MARK_REFRESH_SECONDS = 60
    memory = ProcessMemory("test", maxsize=10, ttl="FACE_MARK_REFRESH_SECONDS", timer=clock)
    memory.set("key", 1)
    clock.now = 30
    assert memory.get("key") == 1
    settings.FACE_MARK_REFRESH_SECONDS = 10
    assert memory.get("key") is None


def test_keys_that_differ_in_any_part_never_share_a_value():
    memory = ProcessMemory("test", maxsize=10, ttl=60.0)
    memory.set((7, "session-1", 3), "record of session 1")
    assert memory.get((7, "session-2", 3)) is None
    assert memory.get((7, "session-1", 3)) == "record of session 1"


def test_the_least_recently_used_entry_goes_beyond_the_size():
    memory = ProcessMemory("test", maxsize=2, ttl=60.0)
    memory.set("a", 1)
    memory.set("b", 2)
    assert memory.get("a") == 1  # "b" is now the least recently used
    memory.set("c", 3)
    assert (memory.get("a"), memory.get("b"), memory.get("c")) == (1, None, 3)


def test_get_or_set_builds_once_and_forget_all_empties_every_memory():
    built = []
    first = ProcessMemory("one", maxsize=10, ttl=60.0)
    second = ProcessMemory("two", maxsize=10, ttl=60.0)
    assert first.get_or_set("k", lambda: built.append(1) or "v") == "v"
    assert first.get_or_set("k", lambda: built.append(1) or "w") == "v"
    second.set("k", "x")
    assert built == [1]
    forget_all()
    assert first.get("k") is None and second.get("k") is None
