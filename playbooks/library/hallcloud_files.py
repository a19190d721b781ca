#!/usr/bin/python
"""Write (or remove) a set of small files in one module call, with check mode and diff.

Window setup renders every file of a device on the controller (``lookup('template', ...)``) and hands
them over together: one SSH round trip instead of three per file (stat, transfer, copy).
"""

from __future__ import annotations

import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: hallcloud_files
short_description: write or remove several small text files at once (check mode and diff supported)
options:
  files:
    description: list of {path, content, mode (octal string, default 0644), state (present|absent)}
    type: list
    elements: dict
    required: true
"""


def _read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (FileNotFoundError, IsADirectoryError):
        return None


def main():
    module = AnsibleModule(
        argument_spec={"files": {"type": "list", "elements": "dict", "required": True}},
        supports_check_mode=True,
    )
    changed, diffs = [], []
    for spec in module.params["files"]:
        path = spec["path"]
        state = spec.get("state", "present")
        if state == "absent":
            if os.path.lexists(path):
                changed.append(path)
                diffs.append(
                    {"before_header": path, "after_header": path, "before": _read(path) or "", "after": ""}
                )
                if not module.check_mode:
                    if os.path.isdir(path) and not os.path.islink(path):
                        shutil.rmtree(path)
                    else:
                        os.unlink(path)
            continue
        content = str(spec.get("content", ""))
        if content and not content.endswith("\n"):
            content += "\n"
        mode = int(str(spec.get("mode", "0644")), 8)
        before = _read(path)
        current_mode = os.stat(path).st_mode & 0o7777 if before is not None else None
        if before == content and current_mode == mode:
            continue
        changed.append(path)
        diffs.append({"before_header": path, "after_header": path, "before": before or "", "after": content})
        if module.check_mode:
            continue
        directory = os.path.dirname(path)
        os.makedirs(directory, mode=0o755, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=directory, prefix=".hallcloud-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(content)
            os.chmod(temp, mode)
            os.replace(temp, path)
        except BaseException:
            if os.path.exists(temp):
                os.unlink(temp)
            raise
    module.exit_json(changed=bool(changed), paths=changed, diff=diffs)


if __name__ == "__main__":
    main()
