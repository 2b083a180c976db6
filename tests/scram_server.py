"""One SCRAM exchange, server side, by scramp (an independent implementation).

Reads JSON lines on stdin: first the account
{"mechanism", "username", "password", "iterations"}, then the client-first and the
client-final messages as JSON strings. Writes the server-first and the server-final
messages as JSON strings, one per line; a refused client gets an `e=` server-final.
"""

import json
import sys

from scramp import ScramException, ScramMechanism


def main():
    account = json.loads(sys.stdin.readline())
    mech = ScramMechanism(account["mechanism"])
    auth_info = mech.make_auth_info(
        account["password"], iteration_count=account["iterations"]
    )

    def auth_fn(username):
        if username != account["username"]:
            raise KeyError(f"unknown user {username!r}")
        return auth_info

    server = mech.make_server(auth_fn)
    server.set_client_first(json.loads(sys.stdin.readline()))
    print(json.dumps(server.get_server_first()), flush=True)
    try:
        server.set_client_final(json.loads(sys.stdin.readline()))
    except ScramException:
        pass
    try:
        final = server.get_server_final()
    except ScramException as e:
        final = "e=" + str(e.server_error or "other-error")
    print(json.dumps(final), flush=True)


if __name__ == "__main__":
    main()
