#!/usr/bin/env python3
"""Drives a YAML language server over stdio LSP, as an editor does, and prints its diagnostics.

usage: lsp-diagnostics.py WORKSPACE SETTINGS_JSON FILE... -- SERVER_COMMAND...

Sends initialize (rootUri = WORKSPACE), initialized, workspace/didChangeConfiguration with
SETTINGS_JSON (the `yaml.*` settings of VS Code, e.g. {"yaml": {"schemas": {...}}}) and
didOpen for each FILE, then waits for the publishDiagnostics of every file and prints one JSON
object: {file: [{"line": 1-based, "message": ...}, ...]}. The server's requests
(workspace/configuration, client/registerCapability) are answered as a client would: the
configuration with SETTINGS_JSON's sections, the rest with null. Exits 2 on a timeout.
"""
import json
import os
import pathlib
import subprocess
import sys
import threading
import time

args = sys.argv[1:]
split = args.index("--")
workspace, settings_text, files, server = args[0], args[1], args[2:split], args[split + 1:]
settings = json.loads(settings_text)
root = pathlib.Path(workspace).resolve()

proc = subprocess.Popen(server, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
lock = threading.Lock()


def send(message):
    body = json.dumps(dict(message, jsonrpc="2.0")).encode()
    with lock:
        proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        proc.stdin.flush()


def receive():
    length = None
    while True:
        line = proc.stdout.readline()
        if not line:
            return None
        line = line.strip()
        if not line:
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return json.loads(proc.stdout.read(length))


def section(name):
    value = settings
    for part in (name or "").split("."):
        if part:
            value = value.get(part, {}) if isinstance(value, dict) else None
    return value


uris = {(root / f).resolve().as_uri(): f for f in files}
diagnostics = {}
initialized = threading.Event()
done = threading.Event()


def reader():
    while True:
        message = receive()
        if message is None:
            done.set()
            return
        method = message.get("method")
        if method and "id" in message:  # a request from the server
            result = None
            if method == "workspace/configuration":
                result = [section(item.get("section")) for item in message["params"]["items"]]
            send({"id": message["id"], "result": result})
        elif message.get("id") == 1:
            initialized.set()
        elif method == "textDocument/publishDiagnostics":
            uri = message["params"]["uri"]
            if uri in uris:
                diagnostics[uris[uri]] = [
                    {"line": d["range"]["start"]["line"] + 1, "message": d["message"]}
                    for d in message["params"]["diagnostics"]
                ]
                if len(diagnostics) == len(uris):
                    done.set()


threading.Thread(target=reader, daemon=True).start()
send({"id": 1, "method": "initialize", "params": {
    "processId": os.getpid(),
    "rootUri": root.as_uri(),
    "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
    "capabilities": {"workspace": {"configuration": True},
                     "textDocument": {"publishDiagnostics": {}}},
}})
if not initialized.wait(30):
    sys.exit("no answer to initialize")
send({"method": "initialized", "params": {}})
send({"method": "workspace/didChangeConfiguration", "params": {"settings": settings}})
time.sleep(0.5)  # the server reads the configuration before the first validation
for uri, name in uris.items():
    send({"method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": uri, "languageId": "yaml", "version": 1, "text": (root / name).read_text()}}})
ok = done.wait(60)
proc.kill()
print(json.dumps(diagnostics, indent=1, sort_keys=True))
sys.exit(0 if ok and len(diagnostics) == len(uris) else 2)
