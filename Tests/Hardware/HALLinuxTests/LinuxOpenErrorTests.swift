import HAL
import HALLinux
import Testing

/// Opening real device nodes that do not exist (or are not I2C): runs anywhere, no root, no modules.
@Suite struct LinuxOpenErrorTests {
    @Test func missingAdapterSaysHowToEnableI2C() {
        do {
            _ = try LinuxI2CBus(path: "/dev/i2c-99")
            Issue.record("/dev/i2c-99 opened")
        } catch {
            #expect(error.kind == .noSuchDevice)
            #expect(error.errno == 2)
            #expect(error.path == "/dev/i2c-99")
            #expect(error.description.contains("dtparam=i2c_arm=on in /boot/firmware/config.txt or raspi-config → Interface Options → I2C"))
            #expect(error.description.hasPrefix("cannot use /dev/i2c-99: open failed: No such file or directory (errno 2)"))
        }
    }

    @Test func permissionDeniedSaysWhichGroup() {
        let error = LinuxI2COpenError(path: "/dev/i2c-1", errno: 13)
        #expect(error.kind == .permissionDenied)
        #expect(error.description.hasSuffix("Fix: add the user to the i2c group: sudo usermod -aG i2c $USER, then log in again"))
    }

    @Test func noSuchDeviceListsWhatIsPresent() {
        let error = LinuxI2COpenError(path: "/dev/i2c-1", errno: 2, present: ["/dev/i2c-20 (SMBus stub driver)"])
        #expect(error.description.contains("present: /dev/i2c-20 (SMBus stub driver)"))
        let none = LinuxI2COpenError(path: "/dev/i2c-1", errno: 2)
        #expect(none.description.contains("no /dev/i2c-* devices exist"))
    }

    @Test func aNodeThatIsNotAnAdapterIsNamedAsSuch() {
        // /dev/null opens read-write but has no I2C_FUNCS ioctl (ENOTTY).
        do {
            _ = try LinuxI2CBus(path: "/dev/null")
            Issue.record("/dev/null accepted as an I2C adapter")
        } catch {
            #expect(error.kind == .notAnI2CAdapter)
            #expect(error.operation == "ioctl(I2C_FUNCS)")
            #expect(error.description.contains("i2cdetect -l"))
        }
    }

    @Test func missingGPIOChipListsTheChipsPresent() {
        do {
            _ = try LinuxGPIOChip("no-such-chip-label")
            Issue.record("opened a chip that does not exist")
        } catch {
            #expect(error.kind == .noSuchChip)
            #expect(error.chip == "no-such-chip-label")
            #expect(error.detail.contains("no GPIO chip 'no-such-chip-label'"))
            // Either the list of chips or the statement that there are none.
            #expect(error.detail.contains("chips present: gpiochip") || error.detail.contains("no GPIO chips exist"))
        }
    }

    @Test(arguments: ["/dev/null", "/dev/gpiochip99", "99", "gpiochip99"])
    func aPathNumberOrNameThatIsNoChipIsNoSuchChip(descriptor: String) {
        // /dev/null exists but is no GPIO chip (libgpiod 1.6: ENOTTY or ENODEV, 2.x: ENODEV); the rest are absent.
        do {
            _ = try LinuxGPIOChip(descriptor)
            Issue.record("opened '\(descriptor)' as a GPIO chip")
        } catch {
            #expect(error.kind == .noSuchChip, "\(error)")
            #expect(error.detail.hasPrefix("no GPIO chip '\(descriptor)' (looked up by name, label, path and number); "))
        }
    }

    @Test func theLibgpiodLoadedHasTheAPIItWasCompiledFor() {
        // libgpiod 1.x reports 1.6.3, 2.x 2.2.1: the version the kernel HIL prints to show which
        // library a run used must belong to the API the shim was compiled for.
        let major = LinuxGPIOChip.libraryVersion.split(separator: ".").first.map(String.init)
        #expect(major == String(LinuxGPIOChip.apiVersion), "libgpiod \(LinuxGPIOChip.libraryVersion), API \(LinuxGPIOChip.apiVersion)")
        #expect([1, 2].contains(LinuxGPIOChip.apiVersion))
    }
}
