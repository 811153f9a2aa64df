"""Tiny HTTP client for the demo, so it needs nothing but Python (no curl).

python http_client.py wait URL            # wait until URL answers 200 (10 s at most)
python http_client.py post URL JSON       # POST a JSON body, print the answer
"""

import sys
import time
import urllib.request


def wait(url: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{url} did not answer")


def post(url: str, body: str) -> None:
    request = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        sys.stdout.write(answer.read().decode() + "\n")


if __name__ == "__main__":
    {"wait": wait, "post": post}[sys.argv[1]](*sys.argv[2:])
