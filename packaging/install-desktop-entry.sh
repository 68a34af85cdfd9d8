#!/bin/sh
# Adds LM Gate to the desktop's application menu for this user: the .desktop file (pointing at
# the lmgate binary in this folder) and the icons, under ${XDG_DATA_HOME:-~/.local/share}.
# `install-desktop-entry.sh --remove` takes them out again. Nothing is copied outside that folder.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data=${XDG_DATA_HOME:-$HOME/.local/share}
entry="$data/applications/lmgate.desktop"
if [ "${1:-}" = "--remove" ]; then
    rm -f "$entry"
    find "$data/icons/hicolor" -path '*/apps/lmgate.*' -type f -exec rm -f {} + 2>/dev/null || true
    echo "removed $entry and the icons"
    exit 0
fi
mkdir -p "$data/applications"
# Exec and TryExec name this folder's binary: the folder is not on PATH.
sed -e "s|^Exec=.*|Exec=\"$here/lmgate\"|" -e "/^TryExec=/d" \
    -e "/^\[Desktop Entry\]/a TryExec=$here/lmgate" \
    "$here/share/applications/lmgate.desktop" > "$entry"
(cd "$here/share" && find icons -type f) | while read -r icon; do
    mkdir -p "$data/$(dirname "$icon")"
    cp "$here/share/$icon" "$data/$icon"
done
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$data/applications" || true
echo "installed $entry"
