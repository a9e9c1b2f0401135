#!/usr/bin/env bash
# Install the iontophoresis device program on a Raspberry Pi (Raspberry Pi OS Bookworm, Pi 4/5).
# Run as root from a clone of the repository:   sudo bash firmware/setup-pi.sh
# Re-running it upgrades the program in place (see firmware/README.md, "Upgrades").
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "run as root: sudo bash $0" >&2; exit 1; }
SRC=$(cd "$(dirname "$0")/.." && pwd)
CONFIG_TXT=/boot/firmware/config.txt
[ -f "$CONFIG_TXT" ] || CONFIG_TXT=/boot/config.txt

echo "== interfaces: I2C on, serial console without a login shell, hardware PWM on GPIO18/19"
raspi-config nonint do_i2c 0
raspi-config nonint do_serial_hw 0      # UART hardware on
raspi-config nonint do_serial_cons 1    # no login shell on the UART
grep -q '^dtoverlay=pwm-2chan' "$CONFIG_TXT" || echo 'dtoverlay=pwm-2chan' >> "$CONFIG_TXT"
# I2C at 400 kHz, not the kernel's default 100 kHz: the 10 ms control period's budget for the
# four ADS1115 conversions counts their I2C transactions at 400 kHz (hardware/README.md, sim/ads1115.py).
sed -i '/^dtparam=i2c_arm_baudrate=/d' "$CONFIG_TXT"
echo 'dtparam=i2c_arm_baudrate=400000' >> "$CONFIG_TXT"
# The device program reads the DS3231 real-time clock (0x68) itself: the kernel's RTC driver
# must not claim the address (hardware/README.md, "Real-time clock").
sed -i '/^dtoverlay=i2c-rtc/d' "$CONFIG_TXT"
# On the Pi 4 the analogue audio uses the same PWM block: switch it off.
sed -i 's/^dtparam=audio=on/dtparam=audio=off/' "$CONFIG_TXT"
grep -q '^dtparam=audio=off' "$CONFIG_TXT" || echo 'dtparam=audio=off' >> "$CONFIG_TXT"

echo "== packages"
apt-get update
apt-get install -y python3-venv python3-dev python3-lgpio i2c-tools

echo "== user and folders"
id ionto >/dev/null 2>&1 || useradd --system --home /var/lib/ionto --shell /usr/sbin/nologin ionto
usermod -a -G gpio,i2c,dialout ionto
install -d -o ionto -g ionto -m 0750 /var/lib/ionto
install -d -m 0755 /etc/ionto /opt/ionto
[ -f /etc/ionto/config.toml ] || install -m 0644 "$SRC/firmware/config.default.toml" /etc/ionto/config.toml
# The kernel's PWM channels must be writable by the service user.
cat > /etc/udev/rules.d/90-ionto-pwm.rules <<'UDEV'
SUBSYSTEM=="pwm*", PROGRAM="/bin/sh -c 'chgrp -R gpio /sys%p && chmod -R g+w /sys%p'"
UDEV

echo "== program"
[ -d /opt/ionto/venv ] || python3 -m venv --system-site-packages /opt/ionto/venv
/opt/ionto/venv/bin/pip install --upgrade -c "$SRC/constraints.txt" "$SRC[pi]"

echo "== service"
install -m 0644 "$SRC/firmware/systemd/ionto.service" /etc/systemd/system/ionto.service
systemctl daemon-reload
systemctl enable ionto.service
echo
echo "Done. Reboot once so that I2C, the UART and the PWM overlay take effect:  sudo reboot"
echo "Then set the technician PIN locally:  sudo -u ionto /opt/ionto/venv/bin/ionto tech set-pin --config /etc/ionto/config.toml"
