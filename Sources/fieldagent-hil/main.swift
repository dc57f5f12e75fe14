#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// fieldagent-hil: HALLinux against the real kernel interfaces (i2c-stub, gpio-sim), run inside the
// qemu guest that scripts/kernel-hil.sh boots. Prints `PASS name` / `FAIL name: reason` per check
// and exits 0 only when every check passed.
let hil = HILRunner()
let only = CommandLine.arguments.dropFirst().first
if only == nil || only == "i2c" {
    i2cChecks(hil)
    i2cReadWriteChecks(hil)
}
if only == nil || only == "gpio" { gpioChecks(hil) }
hil.emit("HIL-SUMMARY passed=\(hil.passed) failed=\(hil.failed)")
exit(hil.failed == 0 && hil.passed > 0 ? 0 : 1)
