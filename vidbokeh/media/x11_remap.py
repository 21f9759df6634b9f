"""The preview's own X11 window mapped once more, where no window manager runs.

On an X server without a window manager (Xvfb, a bare VNC session), the Qt 5.15 that opencv-contrib-python
bundles now and then misses the MapNotify of its window's first map: Qt then believes the window unmapped,
never paints it, and the preview stays black for the whole run (about 1 run in 15 on a loaded 2-core machine;
it reproduces with OpenCV alone, without vidbokeh). Unmapping and mapping the window again sends Qt a new
MapNotify, after which it paints. So once the first frame is shown, where no window manager runs, the preview's
window is remapped (a blink at start). With a window manager (every desktop) nothing is done: the manager maps
the window, and a remap would make it manage the window anew.

Xlib is driven through ctypes in a child process, as ``display.probe_display`` does: the process that shows the
window holds PyAV's and Qt's own copies of libxcb, and a system libX11 beside them is not risked there.
"""
from __future__ import annotations

import logging
import os
import platform
import subprocess
import sys

log = logging.getLogger(__name__)

#: Run in a child: ``python -c _REMAP PID TITLE``; prints one word: remapped, managed, absent or no-x.
_REMAP = r"""
import ctypes, ctypes.util, sys
pid, title = int(sys.argv[1]), sys.argv[2].encode()
x = ctypes.CDLL(ctypes.util.find_library('X11') or 'libX11.so.6')
P, W, A = ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong

class Attributes(ctypes.Structure):  # XWindowAttributes, as Xlib.h lays it out
    _fields_ = [('x', ctypes.c_int), ('y', ctypes.c_int), ('width', ctypes.c_int), ('height', ctypes.c_int),
                ('border_width', ctypes.c_int), ('depth', ctypes.c_int), ('visual', P), ('root', W),
                ('c_class', ctypes.c_int), ('bit_gravity', ctypes.c_int), ('win_gravity', ctypes.c_int),
                ('backing_store', ctypes.c_int), ('backing_planes', ctypes.c_ulong),
                ('backing_pixel', ctypes.c_ulong), ('save_under', ctypes.c_int), ('colormap', ctypes.c_ulong),
                ('map_installed', ctypes.c_int), ('map_state', ctypes.c_int), ('all_event_masks', ctypes.c_long),
                ('your_event_mask', ctypes.c_long), ('do_not_propagate_mask', ctypes.c_long),
                ('override_redirect', ctypes.c_int), ('screen', P)]

x.XOpenDisplay.restype, x.XOpenDisplay.argtypes = P, [ctypes.c_char_p]
x.XDefaultRootWindow.restype, x.XDefaultRootWindow.argtypes = W, [P]
x.XDefaultScreen.argtypes = [P]
x.XInternAtom.restype, x.XInternAtom.argtypes = A, [P, ctypes.c_char_p, ctypes.c_int]
x.XGetSelectionOwner.restype, x.XGetSelectionOwner.argtypes = W, [P, A]
x.XGetWindowProperty.argtypes = [P, W, A, ctypes.c_long, ctypes.c_long, ctypes.c_int, A, ctypes.POINTER(A),
                                 ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_ulong),
                                 ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(P)]
x.XQueryTree.argtypes = [P, W, ctypes.POINTER(W), ctypes.POINTER(W), ctypes.POINTER(ctypes.POINTER(W)),
                         ctypes.POINTER(ctypes.c_uint)]
x.XFetchName.argtypes = [P, W, ctypes.POINTER(ctypes.c_char_p)]
x.XGetWindowAttributes.argtypes = [P, W, ctypes.POINTER(Attributes)]
x.XFree.argtypes = [P]
for name in ('XUnmapWindow', 'XMapWindow'):
    getattr(x, name).argtypes = [P, W]
x.XSync.argtypes = [P, ctypes.c_int]
x.XCloseDisplay.argtypes = [P]
ERRORS = ctypes.CFUNCTYPE(ctypes.c_int, P, P)(lambda display, event: 0)  # a window gone meanwhile: skipped
x.XSetErrorHandler(ERRORS)

def longs(display, window, name):
    atom = x.XInternAtom(display, name, 1)
    if not atom:
        return []
    kind, fmt, count, left, data = A(), ctypes.c_int(), ctypes.c_ulong(), ctypes.c_ulong(), P()
    if x.XGetWindowProperty(display, window, atom, 0, 16, 0, 0, ctypes.byref(kind), ctypes.byref(fmt),
                            ctypes.byref(count), ctypes.byref(left), ctypes.byref(data)) != 0 or not data:
        return []
    values = list(ctypes.cast(data, ctypes.POINTER(ctypes.c_long))[:count.value]) if fmt.value == 32 else []
    x.XFree(data)
    return values

display = x.XOpenDisplay(None)
if not display:
    print('no-x')
    sys.exit()
root = x.XDefaultRootWindow(display)
# a window manager owns the WM_Sn selection (ICCCM) or names itself on the root window (EWMH)
owner = x.XGetSelectionOwner(display, x.XInternAtom(display, b'WM_S%d' % x.XDefaultScreen(display), 0))
if owner or longs(display, root, b'_NET_SUPPORTING_WM_CHECK'):
    print('managed')
    sys.exit()
# the root's own children only: a manager that reparents (twm, which names itself nowhere) has put every window it
# manages inside a frame of its own, so none of them is touched
top_root, parent, children, count = W(), W(), ctypes.POINTER(W)(), ctypes.c_uint()
x.XQueryTree(display, root, ctypes.byref(top_root), ctypes.byref(parent), ctypes.byref(children),
             ctypes.byref(count))
windows = [children[i] for i in range(count.value)]
if children:
    x.XFree(children)
done = 0
for window in windows:
    if longs(display, window, b'_NET_WM_PID') != [pid]:
        continue
    name = ctypes.c_char_p()
    if not x.XFetchName(display, window, ctypes.byref(name)) or name.value is None:
        continue
    same = name.value == title
    x.XFree(name)
    attributes = Attributes()
    if same and x.XGetWindowAttributes(display, window, ctypes.byref(attributes)) and attributes.map_state == 2:
        x.XUnmapWindow(display, window)
        x.XSync(display, 0)
        x.XMapWindow(display, window)
        x.XSync(display, 0)
        done += 1
x.XCloseDisplay(display)
print('remapped' if done else 'absent')
"""


def remap_unmanaged_window(title: str, pid: int | None = None, timeout: float = 10.0) -> str:
    """Unmap and map again the viewable top-level X11 window named ``title`` of process ``pid`` (this one by
    default), when no window manager runs. Returns what was done: "remapped", "managed" (a window manager runs:
    nothing done), "absent" (no such window), "no-x" (no X display here) or "failed" (the child could not
    tell). Never raises: the preview goes on either way."""
    if platform.system() != "Linux" or not os.environ.get("DISPLAY"):
        return "no-x"
    try:
        done = subprocess.run([sys.executable, "-c", _REMAP, str(pid or os.getpid()), title], capture_output=True,
                              text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("preview window remap: %s", exc)
        return "failed"
    words = done.stdout.split()
    outcome = words[-1] if done.returncode == 0 and words else "failed"
    if outcome == "failed":
        log.debug("preview window remap failed (%s): %s", done.returncode, done.stderr.strip()[-300:])
    else:
        log.debug("preview window remap: %s", outcome)
    return outcome
