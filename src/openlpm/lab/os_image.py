"""Disk images with a whole operating system, for partitions that boot their own OS.

Where ``image.py``'s busybox image boots in a second and only ticks, ``openlpm image
build --os debian12`` makes a real Debian 12 on a raw disk, as a customer's partition
would run it: systemd, Debian's cloud kernel, qemu-guest-agent, OpenSSH, PostgreSQL, and
openlpm's guest side (``openlpm.guest``: the network from fw_cfg, the mobility hook).

The disk is GPT: a BIOS boot partition (grub-pc's core image), an EFI system partition
(GRUB's EFI image at the removable-media path, EFI/BOOT/BOOTX64.EFI) and an ext4 root, so
the same disk boots by SeaBIOS and by OVMF. It is built by mmdebstrap straight into the
mounted root filesystem of a loop device, then configured in a chroot; the EFI system
partition is written with mtools, never mounted (some hosts cannot mount FAT).

Cached: the disk is ``IMAGE_DIR/NAME.raw``, beside the lab image's root LUN, where the
lab's SAN imports LUNs from (``openlpm san mklun --source NAME.raw``); ``OS_IMAGE_DIR/NAME/``
(0700) holds what the SAN must not offer: root's SSH private key and the PostgreSQL
role's password (both generated at build time, mode 0600), and ``build.key``, a hash of
what the image is made from (packages, this module, the guest side). A build
whose key matches is skipped; any other is made in a temporary file and renamed into
place, so a reader never sees half an image.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from openlpm import guest
from openlpm.lab.image import IMAGE_DIR, ImageBuildError
from openlpm.private import private_directory, write_private

OS_IMAGE_DIR = Path(os.environ.get("OPENLPM_OS_IMAGE_DIR", "/var/cache/openlpm/os"))
DISK_BYTES = 3 << 30
ESP_MIB = 64
KERNEL_ARGS = "console=ttyS0,115200"
HOSTNAME = "openlpm-guest"
DB_ROLE = "openlpm"
# The lab's partitions' addresses (RFC 2544's benchmark range) may reach the database.
DB_CLIENTS = "198.18.0.0/15"

# GPT partition types: BIOS boot (grub-pc on GPT), EFI system, Linux filesystem.
BIOS_BOOT = "21686148-6449-6E6F-744E-656564454649"
EFI_SYSTEM = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
LINUX_FS = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"

# What GRUB's EFI image holds itself: enough to find and read /boot/grub (the rest it
# loads from there, as grub-install's image does).
EFI_MODULES = ("part_gpt", "part_msdos", "fat", "ext2", "search_fs_uuid", "normal",
               "configfile", "serial", "terminal", "efi_gop", "linux", "gzio")

# The host's tools and the Debian packages that have them.
HOST_TOOLS = {"mmdebstrap": "mmdebstrap", "sfdisk": "fdisk", "losetup": "mount",
              "partx": "util-linux", "mkfs.vfat": "dosfstools", "mcopy": "mtools",
              "mkfs.ext4": "e2fsprogs", "chroot": "coreutils"}

# Documentation stays out (but for the licences); a partition has no use for it.
DPKG_OPTIONS = ("path-exclude=/usr/share/doc/*", "path-include=/usr/share/doc/*/copyright",
                "path-exclude=/usr/share/man/*", "path-exclude=/usr/share/info/*")


@dataclass(frozen=True)
class OsSpec:
    name: str
    title: str
    suite: str
    packages: tuple[str, ...]


DEBIAN12 = OsSpec(
    name="debian12", title="Debian 12 (bookworm)", suite="bookworm",
    # The cloud kernel has virtio (blk, net, console) and qemu_fw_cfg as modules; no
    # timesyncd (the host sets the clock through the guest agent after a migration).
    packages=("systemd", "systemd-sysv", "udev", "dbus", "kmod", "passwd",
              "linux-image-cloud-amd64", "grub2-common", "grub-pc-bin",
              "grub-efi-amd64-bin", "e2fsprogs", "dosfstools", "iproute2",
              "qemu-guest-agent", "openssh-server", "postgresql"))

# Nothing waits for the network to be online (a partition without an address would wait
# two minutes and boot degraded); e2scrub is for LVM; apt's timers would fail, and the
# system be degraded, where the mirror is out of reach.
UNWANTED_UNITS = ("systemd-networkd-wait-online.service", "e2scrub_reap.service",
                  "e2scrub_all.timer", "apt-daily.timer", "apt-daily-upgrade.timer")

OPERATING_SYSTEMS = {spec.name: spec for spec in (DEBIAN12,)}


@dataclass(frozen=True)
class OsImage:
    disk: Path
    ssh_key: Path
    """Root's SSH private key (ed25519); its public half is root's authorized key."""
    db_password: Path
    """The password of the PostgreSQL role ``openlpm``, which owns database ``openlpm``."""

    @classmethod
    def in_dir(cls, directory: Path, disk: Path) -> OsImage:
        return cls(disk=disk, ssh_key=directory / "id_ed25519",
                   db_password=directory / "db-password")


@dataclass(frozen=True)
class _Secrets:
    ssh_key: bytes
    ssh_public: bytes
    db_password: str

    @classmethod
    def generate(cls) -> _Secrets:
        # Here, not at the top: the CLI imports this module for its list of systems.
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
        return cls(
            ssh_key=key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.OpenSSH,
                                      serialization.NoEncryption()),
            ssh_public=key.public_key().public_bytes(
                serialization.Encoding.OpenSSH,
                serialization.PublicFormat.OpenSSH) + b" openlpm\n",
            db_password=secrets.token_urlsafe(24))


@dataclass(frozen=True)
class _Disk:
    """A disk attached to a loop device, its partitions and their filesystems' ids."""

    device: str
    root_uuid: str
    esp_id: str

    def partition(self, number: int) -> str:
        return f"{self.device}p{number}"

    @property
    def esp_uuid(self) -> str:
        return f"{self.esp_id[:4]}-{self.esp_id[4:]}".upper()


def os_names() -> list[str]:
    return sorted(OPERATING_SYSTEMS)


def build_os_image(name: str, out_dir: Path | None = None,
                   say: Callable[[str], None] = lambda _: None,
                   disk_dir: Path | None = None) -> OsImage:
    """The image of operating system ``name``, built unless the cache has it.

    Raises ImageBuildError when ``name`` is unknown, not run as root, a host tool is
    missing, or a step of the build fails (its output in the message).
    """
    spec = _spec(name)
    directory = private_directory(out_dir or OS_IMAGE_DIR / name)
    (disk_dir or IMAGE_DIR).mkdir(parents=True, exist_ok=True)
    image = OsImage.in_dir(directory, (disk_dir or IMAGE_DIR) / f"{name}.raw")
    key = build_key(spec)
    key_file = directory / "build.key"
    with _locked(directory / ".lock"):
        if _cached(image, key_file, key):
            return image
        _check_host()
        key_file.unlink(missing_ok=True)
        say(f"building {spec.title} in {directory} (a few minutes)")
        _build(spec, image, say)
        key_file.write_text(key + "\n")
    return image


def built_os_image(name: str, out_dir: Path | None = None,
                   disk_dir: Path | None = None) -> OsImage | None:
    """The image of ``name`` if the cache has it up to date, else None (nothing built).

    Raises ImageBuildError when ``name`` is unknown.
    """
    directory = out_dir or OS_IMAGE_DIR / name
    image = OsImage.in_dir(directory, (disk_dir or IMAGE_DIR) / f"{name}.raw")
    return image if _cached(image, directory / "build.key", build_key(_spec(name))) else None


def _spec(name: str) -> OsSpec:
    spec = OPERATING_SYSTEMS.get(name)
    if spec is None:
        raise ImageBuildError(f"No image for operating system {name}; choose one of "
                              f"{', '.join(os_names())}.")
    return spec


def build_key(spec: OsSpec) -> str:
    """A hash of what makes the image: its packages, this module and the guest side."""
    digest = hashlib.sha256(repr(spec).encode())
    digest.update(Path(__file__).read_bytes())
    for file in guest.FILES:
        digest.update(f"{file.source} {file.target} {file.mode:o}\n".encode())
        digest.update(guest.source(file).read_bytes())
    return digest.hexdigest()


def _cached(image: OsImage, key_file: Path, key: str) -> bool:
    try:
        built = key_file.read_text().strip()
    except FileNotFoundError:
        return False
    return built == key and all(
        path.is_file() for path in (image.disk, image.ssh_key, image.db_password))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One build at a time in a directory (a test and the CLI may both ask)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _check_host() -> None:
    if os.geteuid() != 0:
        raise ImageBuildError("Building an operating system image needs root (loop "
                              "devices, mounts, chroot); run it as root.")
    missing = sorted({package for tool, package in HOST_TOOLS.items()
                      if shutil.which(tool) is None})
    if missing:
        raise ImageBuildError(f"Building an operating system image needs "
                              f"{', '.join(missing)}; install with 'apt-get install "
                              f"{' '.join(missing)}'.")


def _build(spec: OsSpec, image: OsImage, say: Callable[[str], None]) -> None:
    made = _Secrets.generate()
    temp = image.disk.with_name(f".{image.disk.name}.{os.getpid()}")
    try:
        _partition(temp)
        with _loop(temp) as device:
            disk = _Disk(device, str(uuid.uuid4()), secrets.token_hex(4))
            _make_filesystems(disk)
            _install(spec, disk, image.ssh_key.with_name(f".mnt.{os.getpid()}"), made, say)
        write_private(image.ssh_key, made.ssh_key)
        write_private(image.ssh_key.with_suffix(".pub"), made.ssh_public)
        write_private(image.db_password, made.db_password.encode() + b"\n")
        os.replace(temp, image.disk)
    finally:
        temp.unlink(missing_ok=True)


def _partition(disk: Path) -> None:
    fd = os.open(disk, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.ftruncate(fd, DISK_BYTES)
    finally:
        os.close(fd)
    layout = (f"label: gpt\n"
              f"size=1MiB, type={BIOS_BOOT}, name=bios\n"
              f"size={ESP_MIB}MiB, type={EFI_SYSTEM}, name=efi\n"
              f"type={LINUX_FS}, name=root\n")
    _run(["sfdisk", "--quiet", str(disk)], "partition the disk", stdin=layout)


@contextlib.contextmanager
def _loop(disk: Path) -> Iterator[str]:
    device = _run(["losetup", "--find", "--show", "--partscan", str(disk)],
                  "attach the disk to a loop device").strip()
    try:
        _add_partitions(device)
        yield device
    finally:
        subprocess.run(["losetup", "--detach", device], capture_output=True, check=False)


def _add_partitions(device: str) -> None:
    """The loop device's partitions in /dev: the kernel's scan (--partscan) adds them a
    moment later, or in some containers not at all, where partx adds them."""
    last = Path(f"{device}p3")
    if _appears(last, 1.0):
        return
    _run(["partx", "--add", device], f"add the partitions of {device}")
    if not _appears(last, 5.0):
        raise ImageBuildError(f"The loop device's partition {last} did not appear; is "
                              "/dev a devtmpfs?")


def _appears(node: Path, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not node.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _make_filesystems(disk: _Disk) -> None:
    _run(["mkfs.vfat", "-F", "32", "-n", "EFI", "-i", disk.esp_id, disk.partition(2)],
         "make the EFI system partition")
    # GRUB 2.06 (Debian 12's) cannot read ext4 with metadata_csum_seed, which newer
    # hosts' mke2fs may turn on by default.
    _run(["mkfs.ext4", "-q", "-L", "root", "-U", disk.root_uuid, "-O",
          "^metadata_csum_seed", disk.partition(3)], "make the root filesystem")


def _install(spec: OsSpec, disk: _Disk, mount_point: Path, made: _Secrets,
             say: Callable[[str], None]) -> None:
    root = private_directory(mount_point)
    try:
        with _mounted(disk.partition(3), root):
            say(f"bootstrapping {spec.title} from the Debian mirror")
            _bootstrap(spec, root)
            (root / "boot" / "efi").mkdir(parents=True, exist_ok=True)
            with _chroot_filesystems(root, disk):
                say("configuring the guest and installing GRUB for BIOS and UEFI")
                _configure(root, disk, made)
                _install_grub(root, disk)
                _install_grub_efi(root, disk)
    finally:
        root.rmdir()


def _bootstrap(spec: OsSpec, root: Path) -> None:
    command = ["mmdebstrap", "--mode=root", "--variant=apt", "--quiet",
               "--aptopt=APT::Install-Recommends \"false\"",
               f"--include={','.join(spec.packages)}"]
    command += [f"--dpkgopt={option}" for option in DPKG_OPTIONS]
    _run([*command, spec.suite, str(root)], f"bootstrap {spec.title} with mmdebstrap "
         "(is deb.debian.org reachable?)")


@contextlib.contextmanager
def _mounted(source: str, target: Path, *options: str) -> Iterator[None]:
    _run(["mount", *options, source, str(target)], f"mount {source} on {target}")
    try:
        yield
    finally:
        # Recursive: whatever a failed step left mounted inside goes too.
        if subprocess.run(["umount", "-R", str(target)], capture_output=True).returncode:
            subprocess.run(["umount", "-R", "--lazy", str(target)], capture_output=True)


@contextlib.contextmanager
def _chroot_filesystems(root: Path, disk: _Disk) -> Iterator[None]:
    """/proc, /sys and a /dev of the chroot's own: the host's /dev (which may lack udev's
    /dev/disk/by-uuid, which update-grub needs to write root=UUID=) is left untouched."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(_mounted("proc", root / "proc", "-t", "proc"))
        stack.enter_context(_mounted("sysfs", root / "sys", "-t", "sysfs"))
        stack.enter_context(_mounted("tmpfs", root / "dev", "-t", "tmpfs", "-o", "mode=755"))
        _populate_dev(root / "dev", disk)
        stack.enter_context(_mounted("tmpfs", root / "dev" / "shm", "-t", "tmpfs", "-o",
                                     "mode=1777"))
        yield


def _populate_dev(dev: Path, disk: _Disk) -> None:
    partitions = [disk.partition(number) for number in (1, 2, 3)]
    for node in ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
                 "/dev/tty", disk.device, *partitions):
        found = os.stat(node)
        os.mknod(dev / Path(node).name, found.st_mode, found.st_rdev)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        (dev / name).symlink_to(target)
    (dev / "shm").mkdir()
    by_uuid = dev / "disk" / "by-uuid"
    by_uuid.mkdir(parents=True)
    (by_uuid / disk.root_uuid).symlink_to(f"../../{Path(partitions[2]).name}")
    (by_uuid / disk.esp_uuid).symlink_to(f"../../{Path(partitions[1]).name}")


def _configure(root: Path, disk: _Disk, made: _Secrets) -> None:
    _write(root, "etc/hostname", f"{HOSTNAME}\n")
    _write(root, "etc/hosts", f"127.0.0.1\tlocalhost\n127.0.1.1\t{HOSTNAME}\n"
           "::1\tlocalhost ip6-localhost ip6-loopback\n")
    # No DNS server is known; the host's resolv.conf, which mmdebstrap copied, is not
    # the partition's.
    _write(root, "etc/resolv.conf", "")
    _write(root, "etc/fstab", f"UUID={disk.root_uuid}\t/\text4\terrors=remount-ro\t0 1\n"
           f"UUID={disk.esp_uuid}\t/boot/efi\tvfat\tumask=0077\t0 2\n")
    (root / "var/log/journal").mkdir(parents=True, exist_ok=True)
    _install_guest_side(root)
    _configure_ssh(root, made.ssh_public)
    _configure_postgresql(root, made.db_password)
    _chroot(root, "usermod", "--lock", "root")
    _chroot(root, "systemctl", "enable", "--quiet", "systemd-networkd.service",
            *guest.UNITS)
    _chroot(root, "systemctl", "disable", "--quiet", *UNWANTED_UNITS)


def _install_guest_side(root: Path) -> None:
    for file in guest.FILES:
        target = root / file.target.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(guest.source(file).read_bytes())
        target.chmod(file.mode)


def _configure_ssh(root: Path, public_key: bytes) -> None:
    _write(root, "etc/ssh/sshd_config.d/openlpm.conf",
           "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
           "HostKey /etc/ssh/ssh_host_ed25519_key\n")
    ssh = root / "root" / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    (ssh / "authorized_keys").write_bytes(public_key)
    (ssh / "authorized_keys").chmod(0o600)
    # Every copy of the image makes its own at its first boot (guest/first-boot).
    for key in (root / "etc" / "ssh").glob("ssh_host_*"):
        key.unlink()


def _configure_postgresql(root: Path, password: str) -> None:
    version = _postgresql_version(root)
    config = root / "etc" / "postgresql" / version / "main"
    _write(root, str(config.relative_to(root) / "conf.d" / "openlpm.conf"),
           "listen_addresses = '*'\n")
    with (config / "pg_hba.conf").open("a") as hba:
        hba.write(f"# openlpm's role from the lab's partitions\n"
                  f"host    all             {DB_ROLE:<15} {DB_CLIENTS:<23} "
                  f"scram-sha-256\n")
    # The server is not running: single-user mode runs each line as one statement.
    statements = (f"CREATE ROLE {DB_ROLE} LOGIN CREATEDB PASSWORD '{password}';\n"
                  f"CREATE DATABASE {DB_ROLE} OWNER {DB_ROLE};\n")
    out = _chroot(root, f"/usr/lib/postgresql/{version}/bin/postgres", "--single",
                  "-D", f"/var/lib/postgresql/{version}/main",
                  "-c", f"config_file=/etc/postgresql/{version}/main/postgresql.conf",
                  "postgres", user="postgres", stdin=statements)
    if "ERROR" in out:
        raise ImageBuildError(f"PostgreSQL refused to create role {DB_ROLE}: {out[-2000:]}")
    # Its self-signed certificate too is made again at each copy's first boot.
    for snakeoil in ("etc/ssl/private/ssl-cert-snakeoil.key",
                     "etc/ssl/certs/ssl-cert-snakeoil.pem"):
        (root / snakeoil).unlink(missing_ok=True)


def _postgresql_version(root: Path) -> str:
    versions = sorted(path.parent.parent.name for path in
                      (root / "usr" / "lib" / "postgresql").glob("*/bin/postgres"))
    if not versions:
        raise ImageBuildError("PostgreSQL's server is missing from the image.")
    return versions[-1]


def _install_grub(root: Path, disk: _Disk) -> None:
    grub_default = (f'GRUB_DEFAULT=0\nGRUB_TIMEOUT=0\nGRUB_DISTRIBUTOR="Debian"\n'
                    f'GRUB_CMDLINE_LINUX_DEFAULT=""\nGRUB_CMDLINE_LINUX="{KERNEL_ARGS}"\n'
                    'GRUB_TERMINAL="serial console"\n'
                    'GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"\n'
                    # A partition has no display: no video mode to look for under UEFI.
                    "GRUB_GFXPAYLOAD_LINUX=text\n"
                    "GRUB_DISABLE_OS_PROBER=true\nGRUB_DISABLE_RECOVERY=true\n")
    _write(root, "etc/default/grub", grub_default)
    _chroot(root, "grub-install", "--target=i386-pc", disk.device)
    _chroot(root, "update-grub")
    config = (root / "boot" / "grub" / "grub.cfg").read_text()
    if f"root=UUID={disk.root_uuid}" not in config:
        raise ImageBuildError("update-grub did not name the root filesystem by its UUID "
                              "in /boot/grub/grub.cfg.")


def _install_grub_efi(root: Path, disk: _Disk) -> None:
    """GRUB for UEFI at the removable-media path, EFI/BOOT/BOOTX64.EFI.

    What ``grub-install --target=x86_64-efi --removable --no-nvram`` does, without
    mounting the EFI system partition: grub-install insists on a mounted FAT filesystem,
    and some hosts (containers, small kernels) cannot mount one. The image finds the root
    filesystem by its UUID and reads the same /boot/grub/grub.cfg as BIOS's GRUB; mtools
    writes it into the partition.
    """
    modules = root / "boot" / "grub" / "x86_64-efi"
    shutil.rmtree(modules, ignore_errors=True)
    shutil.copytree(root / "usr" / "lib" / "grub" / "x86_64-efi", modules,
                    ignore=shutil.ignore_patterns("*.efi", "monolithic"))
    _write(root, "tmp/openlpm-load.cfg", f"search.fs_uuid {disk.root_uuid} root\n"
           "set prefix=($root)'/boot/grub'\n")
    efi = root / "tmp" / "BOOTX64.EFI"
    try:
        _chroot(root, "grub-mkimage", "--format=x86_64-efi", "--output=/tmp/BOOTX64.EFI",
                "--config=/tmp/openlpm-load.cfg", "--prefix=", *EFI_MODULES)
        esp = disk.partition(2)
        _run(["mmd", "-i", esp, "::/EFI", "::/EFI/BOOT"], "make EFI/BOOT in the ESP")
        _run(["mcopy", "-i", esp, str(efi), "::/EFI/BOOT/BOOTX64.EFI"],
             "copy GRUB into the EFI system partition")
    finally:
        efi.unlink(missing_ok=True)
        (root / "tmp" / "openlpm-load.cfg").unlink(missing_ok=True)


def _write(root: Path, relative: str, text: str, mode: int = 0o644) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _chroot(root: Path, *command: str, user: str | None = None, stdin: str | None = None
            ) -> str:
    prefix = ["chroot"] + ([f"--userspec={user}:{user}"] if user else []) + [str(root)]
    # The chroot's PATH, not the host's; no locale is installed there.
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}
    return _run([*prefix, *command], f"run {command[0]} in the image", stdin=stdin, env=env)


def _run(command: Sequence[str], what: str, stdin: str | None = None,
         env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, text=True,
                              check=True, env=env)
    except (OSError, subprocess.CalledProcessError) as exc:
        output = (getattr(exc, "stderr", "") or "") + (getattr(exc, "stdout", "") or "")
        raise ImageBuildError(f"Could not {what}: {exc}\n{output[-3000:]}") from exc
    return done.stdout + done.stderr
