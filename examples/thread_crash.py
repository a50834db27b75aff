"""A worker thread dies; threading.excepthook reports it and the program carries on.

POSTHOG_API_KEY=phc_demo POSTHOG_HOST=http://127.0.0.1:8000 python examples/thread_crash.py
"""

import threading

import posthog_exceptions


def resize_images() -> None:
    raise OSError("disk full while writing thumbnails")


def main() -> None:
    posthog_exceptions.init()
    worker = threading.Thread(target=resize_images, name="thumbnailer")
    worker.start()
    worker.join()
    print("the main thread is still running")


if __name__ == "__main__":
    main()
