#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HALLinux

// fieldagent-hil: HALLinux against the real kernel interfaces (i2c-stub, gpio-sim), run inside the
// qemu guest that scripts/kernel-hil.sh boots: the HAL backends alone (i2c, gpio), then the chip
// drivers and the doctor on a board file (board). `fieldagent-hil [i2c] [gpio] [board]` runs those
// groups (all without arguments). Prints the libgpiod it runs with, then `PASS name` /
// `FAIL name: reason` per check, and exits 0 only when every check passed.

let hil = HILRunner()
let groups = Set(CommandLine.arguments.dropFirst())
func runs(_ group: String) -> Bool { groups.isEmpty || groups.contains(group) }
hil.emit("HIL-LIBGPIOD \(LinuxGPIOChip.libraryVersion) (compiled against the libgpiod \(LinuxGPIOChip.apiVersion).x API)")
if runs("i2c") {
    i2cChecks(hil)
    i2cReadWriteChecks(hil)
}
if runs("gpio") { gpioChecks(hil) }
if runs("board") {
    // Needs i2c-stub and gpio-sim; plants the register images the doctor then reads.
    chipImageChecks(hil)
    doctorChecks(hil)
}
hil.emit("HIL-SUMMARY passed=\(hil.passed) failed=\(hil.failed)")
exit(hil.failed == 0 && hil.passed > 0 ? 0 : 1)
