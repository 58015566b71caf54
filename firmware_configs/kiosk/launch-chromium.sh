#!/usr/bin/env bash
# Show one hall page full screen in Chromium and keep it there: relaunch Chromium whenever it
# exits, and blank the screen while the page's /healthz says "screen": "off" (the kiosk does
# that outside opening hours). Run by hall-kiosk-browser.service and
# hall-display-browser.service as the desktop user; by hand:
#
#     launch-chromium.sh [URL]        URL default: $HALL_URL, else http://127.0.0.1:8080/
#
# Settings come from the environment, or from a defaults file of VAR=value lines sourced if
# present: /etc/default/hall-kiosk-browser, or the file named by HALL_BROWSER_DEFAULTS.
#   CHROMIUM        the browser (default chromium, or chromium-browser if only that exists)
#   CHROMIUM_FLAGS  extra flags, split on spaces. Chromium takes only the last
#                   --disable-features, so add features to the one in chromium.flags.
#   SCREEN_POLL     seconds between two reads of /healthz (default 60; 0 never blanks)
#   SCREEN_OFF_CMD  run with bash when the page says "off" (default: wlr-randr --output
#   SCREEN_ON_CMD   HDMI-A-1 --off / --on, for Raspberry Pi OS Bookworm under Wayland; see
#                   `wlr-randr` for the output's name). Under X11 use
#                   `vcgencmd display_power 0` / `vcgencmd display_power 1`.
#   MAX_RESTARTS    stop after this many relaunches (the tests set it); default: never stop
set -euo pipefail

log() { printf 'launch-chromium: %s\n' "$*" >&2; }

defaults=${HALL_BROWSER_DEFAULTS:-/etc/default/hall-kiosk-browser}
if [[ -r $defaults ]]; then
  # shellcheck source=/dev/null
  source "$defaults"
fi

url=${1:-${HALL_URL:-http://127.0.0.1:8080/}}
if [[ ! $url =~ ^(https?://[^/?#]+) ]]; then
  log "not an http(s) URL: $url"
  exit 2
fi
# Every hall web part answers /healthz at its root, whatever page the screen shows.
health_url="${BASH_REMATCH[1]}/healthz"

if [[ -n ${CHROMIUM:-} ]]; then
  chromium=$CHROMIUM
elif command -v chromium >/dev/null; then
  chromium="chromium"
elif command -v chromium-browser >/dev/null; then
  chromium="chromium-browser"
else
  log "no Chromium found: install the package chromium (or chromium-browser), or set CHROMIUM"
  exit 1
fi

poll=${SCREEN_POLL:-60}
# A tmpfs for the profile: the unit's RuntimeDirectory=, else the session's runtime
# directory, else /dev/shm.
profiles=${RUNTIME_DIRECTORY:-${XDG_RUNTIME_DIR:-/dev/shm}}
screen_off_cmd=${SCREEN_OFF_CMD:-wlr-randr --output HDMI-A-1 --off}
screen_on_cmd=${SCREEN_ON_CMD:-wlr-randr --output HDMI-A-1 --on}

# The flags, one a line, are in chromium.flags beside this script (the benchmark and the
# tests read the same file). Chromium has no flag that reliably disables the context menu
# (long press, right click): the kiosk page blocks the contextmenu event in JavaScript.
flags_file=$(dirname "${BASH_SOURCE[0]}")/chromium.flags
if [[ ! -r $flags_file ]]; then
  log "cannot read $flags_file: it holds Chromium's flags and sits beside this script"
  exit 1
fi
flags=()
while IFS= read -r line || [[ -n $line ]]; do
  line=${line#"${line%%[![:space:]]*}"}
  line=${line%"${line##*[![:space:]]}"}
  if [[ -n $line && $line != \#* ]]; then
    flags+=("$line")
  fi
done <"$flags_file"
read -r -a extra_flags <<<"${CHROMIUM_FLAGS:-}"

find_display() {
  # A system unit is not told where the desktop session is; look in the user's runtime
  # directory and wait, since the unit may start before the desktop has logged in.
  if [[ -n ${WAYLAND_DISPLAY:-} || -n ${DISPLAY:-} || -z ${XDG_RUNTIME_DIR:-} ]]; then
    return 0
  fi
  local sock told=""
  while :; do
    for sock in "$XDG_RUNTIME_DIR"/wayland-[0-9]; do
      if [[ -S $sock ]]; then
        export WAYLAND_DISPLAY=${sock##*/}
        return 0
      fi
    done
    if [[ -S /tmp/.X11-unix/X0 ]]; then
      export DISPLAY=:0
      return 0
    fi
    if [[ -z $told ]]; then
      log "waiting for the desktop session (no Wayland socket in $XDG_RUNTIME_DIR, no X11 :0)"
      told=1
    fi
    sleep 2
  done
}

read_screen() {
  # Prints on or off; nothing when the page does not answer or does not say.
  local body re='"screen"[[:space:]]*:[[:space:]]*"(on|off)"'
  if command -v curl >/dev/null; then
    body=$(curl -fsS --max-time 5 "$health_url" 2>/dev/null) || return 0
  else
    body=$(python3 -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$health_url" 2>/dev/null) || return 0
  fi
  if [[ $body =~ $re ]]; then
    printf '%s\n' "${BASH_REMATCH[1]}"
  fi
}

watch_screen() {
  # Runs the command at the first answer too: an earlier launcher may have left the screen
  # off. A failed command is tried again at the next poll.
  local state="" want cmd sleeper=""
  trap 'if [[ -n $sleeper ]]; then kill "$sleeper" 2>/dev/null || true; fi; exit 0' TERM
  while :; do
    want=$(read_screen)
    if [[ -n $want && $want != "$state" ]]; then
      if [[ $want == off ]]; then cmd=$screen_off_cmd; else cmd=$screen_on_cmd; fi
      if bash -c "$cmd"; then
        log "screen $want"
        state=$want
      else
        log "screen $want: command failed: $cmd"
      fi
    fi
    # sleep in the background, so TERM ends the wait at once and leaves no sleep behind.
    sleep "$poll" &
    sleeper=$!
    wait "$sleeper" || true
  done
}

poller=""
chromium_pid=""
profile=""
cleanup() {
  if [[ -n $poller ]]; then kill "$poller" 2>/dev/null || true; fi
  if [[ -n $chromium_pid ]]; then kill "$chromium_pid" 2>/dev/null || true; fi
  if [[ -n $profile ]]; then rm -rf "$profile"; fi
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

find_display
if [[ $poll != 0 ]]; then
  watch_screen &
  poller=$!
fi

restarts=0
while :; do
  # A fresh profile for each launch, on a tmpfs: nothing of one resident's session
  # survives the launch, the SD card sees none of the browser's writes, and the HTTP cache
  # (bounded by --disk-cache-size) goes with it.
  profile=$(mktemp -d "$profiles/hall-chromium.XXXXXX")
  # Chromium runs in the background so that TERM from systemd is handled at once.
  "$chromium" "${flags[@]}" "${extra_flags[@]}" --user-data-dir="$profile" --disk-cache-dir="$profile/cache" "$url" &
  chromium_pid=$!
  status=0
  wait "$chromium_pid" || status=$?
  chromium_pid=""
  rm -rf "$profile"
  profile=""
  if [[ -n ${MAX_RESTARTS:-} ]] && ((restarts >= MAX_RESTARTS)); then
    log "$chromium exited with status $status; $restarts restart(s) done, stopping"
    exit "$status"
  fi
  restarts=$((restarts + 1))
  log "$chromium exited with status $status; restarting in 2 s (restart $restarts)"
  sleep 2
done
