"""Public data sets, fetched over HTTP: resumable, verified, with progress bars.

`download_quickdraw` gets the Quick, Draw! files of some classes in one of the dataset's formats
(`strokelens.download.quickdraw`); `fetch_file` is the resumable, checked download under it
(`strokelens.download.http`). Nothing here runs on import or in the tests against the network.
"""

from __future__ import annotations

from strokelens.download.http import Fetched, Remote, fetch_file, head
from strokelens.download.quickdraw import (
    BASE_URL,
    FORMATS,
    URL_ENV_VAR,
    check_classes,
    default_folder,
    download_quickdraw,
    quickdraw_classes,
    quickdraw_url,
    read_class_file,
)

__all__ = [
    "BASE_URL",
    "FORMATS",
    "URL_ENV_VAR",
    "Fetched",
    "Remote",
    "check_classes",
    "default_folder",
    "download_quickdraw",
    "fetch_file",
    "head",
    "quickdraw_classes",
    "quickdraw_url",
    "read_class_file",
]
