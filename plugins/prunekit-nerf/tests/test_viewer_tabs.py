"""The viewer's tab lifecycle, without a browser: a closing tab never waits for its render thread.

viser runs the disconnect callback on its thread pool and waits for that pool at interpreter exit; a
callback that joined a render thread made Ctrl-C hang while a frame was being drawn. Here the frame is
held open by the test itself, so the hang is provoked every time, not only under load.
"""

from __future__ import annotations

import contextlib
import threading
from types import SimpleNamespace

from prunekit_nerf.viewer import Tabs


class Handle(SimpleNamespace):
    """A GUI control: a value and callbacks that are never fired here."""

    def on_update(self, callback) -> None:
        pass

    def on_click(self, callback) -> None:
        pass


class Gui:
    def add_dropdown(self, label, options, initial_value):
        return Handle(value=initial_value)

    def add_slider(self, label, low, high, step, initial):
        return Handle(value=initial)

    def add_checkbox(self, label, initial):
        return Handle(value=initial)

    def add_markdown(self, content):
        return Handle(content=content)

    def add_button(self, label):
        return Handle()


class Client:
    def __init__(self, client_id: int) -> None:
        self.client_id = client_id
        self.gui = Gui()
        self.scene = SimpleNamespace(set_background_image=lambda *a, **k: None)
        self.camera = Handle(wxyz=(1.0, 0.0, 0.0, 0.0), position=(0.0, 0.0, 4.0), fov=0.7, aspect=1.0)

    def atomic(self):
        return contextlib.nullcontext()


class HeldViewer:
    """A viewer whose frame stays in progress until the test releases it."""

    preview_height, height = 8, 16

    def __init__(self) -> None:
        self.drawing, self.release = threading.Event(), threading.Event()

    def add_cameras(self, scene) -> list:
        return []

    def stats(self, aspect: float) -> str:
        return ""

    def render(self, *args):
        self.drawing.set()
        self.release.wait()
        return None  # as a render does when its camera moved on: nothing to show


def test_disconnect_returns_while_a_frame_is_drawn_and_close_joins_it():
    viewer = HeldViewer()
    tabs = Tabs(viewer)
    client = Client(7)
    tabs.connect(client)
    tab = tabs.opened[7]
    try:
        assert viewer.drawing.wait(60), "the tab never started its first frame"
        returned = threading.Event()
        threading.Thread(target=lambda: (tabs.disconnect(client), returned.set()), daemon=True).start()
        # a safety net only: a disconnect that joined would wait for a frame this test holds open
        assert returned.wait(60), "disconnect waited for the render thread"
        assert tab.closed and tab.threads[0].is_alive()
    finally:
        viewer.release.set()
    tabs.close()
    assert not any(thread.is_alive() for thread in tab.threads)


def test_disconnect_of_an_unknown_client_is_ignored():
    tabs = Tabs(HeldViewer())
    tabs.disconnect(Client(3))  # viser may report a client whose connect callback never ran
    tabs.close()
    assert tabs.opened == {}
