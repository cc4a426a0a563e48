"""A warm workspace server: imports the single-user server once, then becomes one workspace's server.

Run by the hub (:mod:`spawner.warm`) as ``<python> warm_process.py <socket> <hub pid>``,
as the hub's account, with only the variables a cold start takes from the hub
(JupyterHub's ``env_keep``): none of the hub's secrets. It

1. listens on ``<socket>`` (mode 0600, in the hub's 0700 folder): only the hub's
   account can reach it;
2. imports jupyterhub.singleuser, jupyter_server and JupyterLab: the seconds a
   cold start spends before it can listen;
3. takes ONE request, ``{"argv", "env", "cwd", "umask", "cgroup_procs",
   "rlimit_data", "uid", "gid", "groups"}``, and applies it exactly as the cold
   start's ``preexec_fn`` does: cgroup, RLIMIT_DATA, umask, then the account
   (setgid, setgroups, setuid), folder, environment (replaced whole, and shown
   as such in /proc/<pid>/environ and cmdline);
4. answers ``ok`` (or the error, and exits), closes every file descriptor but
   0, 1 and 2 (the hub's, as in a cold start), and runs the server with the
   cold start's argv.

It must not import anything from this repository: the workspaces' Python
(local.python, or an image's own) need not have it.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import runpy
import signal
import socket
import sys

PR_SET_PDEATHSIG = 1
PR_SET_MM = 35
PR_SET_MM_MAP = 14
MAX_REQUEST = 1 << 20

# Kept alive for the life of the process: /proc/<pid>/cmdline and environ point into them.
_shown: list[ctypes.Array] = []


def _prctl(*args: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    args = args + (0,) * (5 - len(args))
    if libc.prctl(*args) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return 0


class _MmMap(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "start_code", "end_code", "start_data", "end_data", "start_brk", "brk", "start_stack",
        "arg_start", "arg_end", "env_start", "env_end",
    )] + [("auxv", ctypes.c_void_p), ("auxv_size", ctypes.c_uint32), ("exe_fd", ctypes.c_uint32)]


def show(argv: list[str], env: dict[str, str]) -> None:
    """Make /proc/<pid>/cmdline and environ say what a cold start's would (PR_SET_MM_MAP needs
    no privilege); otherwise they would go on showing this program and its start environment."""
    # fields after the command's name, from field 3 on: startcode is 26, startstack 28, start_data 45
    fields = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
    field = lambda n: int(fields[n - 3])  # noqa: E731
    args = ctypes.create_string_buffer(b"".join(a.encode() + b"\0" for a in argv))
    envs = ctypes.create_string_buffer(b"".join(f"{k}={v}".encode() + b"\0" for k, v in env.items()) or b"\0")
    _shown.extend((args, envs))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.sbrk.restype = ctypes.c_void_p
    mm = _MmMap(
        start_code=field(26), end_code=field(27), start_data=field(45), end_data=field(46),
        start_brk=field(47), brk=libc.sbrk(0), start_stack=field(28),
        arg_start=ctypes.addressof(args), arg_end=ctypes.addressof(args) + len(args.raw) - 1,
        env_start=ctypes.addressof(envs), env_end=ctypes.addressof(envs) + len(envs.raw) - 1,
        auxv=None, auxv_size=0, exe_fd=0xFFFFFFFF,
    )
    _prctl(PR_SET_MM, PR_SET_MM_MAP, ctypes.addressof(mm), ctypes.sizeof(mm))


def listen(path: str) -> socket.socket:
    old = os.umask(0o177)  # the socket file is 0600 from the start, never briefly wider
    try:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
    finally:
        os.umask(old)
    server.listen(1)
    return server


def receive(server: socket.socket, path: str) -> tuple[socket.socket, dict]:
    conn, _ = server.accept()
    server.close()
    os.unlink(path)  # one request only: nobody can reach this process again
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
        if len(data) > MAX_REQUEST:
            raise ValueError("request too large")
    return conn, json.loads(data)


def become(request: dict) -> None:
    """What the cold start's preexec_fn does, in the same order, then the environment."""
    _prctl(PR_SET_PDEATHSIG, 0)  # from now on a workspace server: it outlives a hub restart
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    show(request["argv"], request["env"])
    if request.get("cgroup_procs"):
        with open(request["cgroup_procs"], "w") as f:
            f.write("0")
    if request.get("rlimit_data"):
        resource.setrlimit(resource.RLIMIT_DATA, (request["rlimit_data"], request["rlimit_data"]))
    os.umask(request["umask"])
    if request.get("uid") is not None:
        os.setgid(request["gid"])
        os.setgroups(request["groups"])
        os.setuid(request["uid"])
        if os.geteuid() == 0 or os.getuid() == 0:
            raise PermissionError("still root after setuid")
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])


def main() -> None:
    path, hub_pid = sys.argv[1], int(sys.argv[2])
    # an idle warm process dies with the hub that started it (a hub restart starts its own)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != hub_pid:
        sys.exit(0)  # the hub died before the line above
    server = listen(path)
    import jupyter_server.serverapp  # noqa: F401
    import jupyterhub.singleuser  # noqa: F401
    import jupyterlab.labapp  # noqa: F401

    conn, request = receive(server, path)
    try:
        become(request)
    except BaseException as e:  # noqa: BLE001 (told to the hub, which starts cold instead)
        conn.sendall(f"{type(e).__name__}: {e}".encode())
        os._exit(1)
    conn.sendall(b"ok")
    conn.close()
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    argv = request["argv"]
    # argv is the cold start's: <python> -m jupyterhub.singleuser <args...>
    module = argv[argv.index("-m") + 1]
    sys.argv = [argv[0], *argv[argv.index("-m") + 2 :]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
