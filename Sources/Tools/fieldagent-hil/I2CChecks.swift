import Dispatch
import HAL
import HALLinux
import Synchronization

/// LinuxI2CBus against the kernel's i2c-stub (SMBus only): the init script
/// loads it with chips at HIL_I2C_ADDRESSES and plants 0x76:0xD0 = 0x60 and 0x53:0x00 = 0xE5 with
/// i2cset; after this program it reads 0x53:0x2D with i2cget to see what we wrote.
func i2cChecks(_ hil: HILRunner) {
    let bme = I2CAddress(UInt8(0x76))
    let adxl = I2CAddress(UInt8(0x53))
    var opened: LinuxI2CBus?

    hil.check("i2c.open-smbus-only-adapter") {
        let bus = try LinuxI2CBus(path: try environment("HIL_I2C_BUS"))
        opened = bus
        try expectEqual(bus.adapterName, "SMBus stub driver", "adapter name")
        try expect(!bus.functionality.supportsPlainI2C, "i2c-stub must not offer I2C_FUNC_I2C: \(bus.functionality)")
        try expect(bus.functionality.isSuperset(of: [.smbusReadByteData, .smbusWriteByteData, .smbusReadI2CBlock, .smbusWriteI2CBlock, .smbusReadByte]),
                   "byte data and I2C block transfers expected: \(bus.functionality)")
    }
    guard let bus = opened else { return }

    hil.check("i2c.read-byte-planted-by-i2cset") {
        try expectEqual(try bus.writeRead(bme, [0xD0], count: 1), [0x60], "BME280 id at 0x76:0xD0")
        try expectEqual(try bus.writeRead(adxl, [0x00], count: 1), [0xE5], "ADXL345 DEVID at 0x53:0x00")
    }

    hil.check("i2c.write-byte-data-then-read") {
        try bus.write(bme, [0xF4, 0x27])  // ctrl_meas
        try expectEqual(try bus.writeRead(bme, [0xF4], count: 1), [0x27], "0x76:0xF4 after write byte data")
        try bus.write(adxl, [0x2D, 0x08])  // POWER_CTL measure; i2cget checks it after this program
    }

    hil.check("i2c.block-write-then-block-read") {
        let calibration: [UInt8] = (0..<26).map { UInt8(0x30 + $0) }
        try bus.write(bme, [0x88] + calibration)
        try expectEqual(try bus.writeRead(bme, [0x88], count: 26), calibration, "26-byte calibration burst at 0x88")
        let sample: [UInt8] = [0x10, 0x00, 0xF0, 0xFF, 0x00, 0x01]
        try bus.write(adxl, [0x32] + sample)
        try expectEqual(try bus.writeRead(adxl, [0x32], count: 6), sample, "ADXL345 DATAX0…DATAZ1 burst")
        try expectEqual(try bus.writeRead(bme, [0xE0], count: 32).count, 32, "32-byte block read length")
    }

    hil.check("i2c.send-byte-then-receive-byte") {
        try bus.write(bme, [0x10, 0xAB])
        try bus.write(bme, [0x10])  // send byte: i2c-stub sets its pointer
        try expectEqual(try bus.read(bme, count: 1), [0xAB], "receive byte after send byte 0x10")
    }

    hil.check("i2c.absent-address-is-address-nack") {
        do {
            _ = try bus.writeRead(I2CAddress(UInt8(0x50)), [0x00], count: 1)
            throw HILRunner.Failure("0x50 answered")
        } catch let error as I2CError {
            try expectEqual(error.kind, .noAcknowledge(.address), "kind (\(error))")
            try expect(error.errno == 19, "errno ENODEV expected from i2c-stub: \(error)")
            try expect(error.description.contains("SMBus stub driver"), "adapter named: \(error)")
        }
    }

    hil.check("i2c.scan-finds-exactly-the-planted-addresses") {
        let planted = try environment("HIL_I2C_ADDRESSES").split(separator: " ")
            .compactMap { Int($0.dropFirst(2), radix: 16) }.compactMap { I2CAddress(checking: $0) }.sorted()
        var found: [I2CAddress] = []
        for address in I2CAddress.scanRange where try bus.probe(address) { found.append(address) }
        try expectEqual(found, planted, "scan 0x08…0x77")
    }

    hil.check("i2c.non-register-transaction-is-unsupported-naming-adapter") {
        do {
            _ = try bus.transaction(I2CAddress(UInt8(0x44)), [.write([0x24, 0x00]), .read(count: 6)])  // SHT3x-style
            throw HILRunner.Failure("an SHT3x-style transaction went through an SMBus-only adapter")
        } catch let error as I2CError {
            try expectEqual(error.kind, .unsupported, "kind (\(error))")
            try expect(error.detail?.contains("'SMBus stub driver' is SMBus-only") == true, "adapter named: \(error)")
        }
        do {
            _ = try bus.writeRead(bme, [0x00], count: 33)
            throw HILRunner.Failure("a 33-byte read went through")
        } catch let error as I2CError {
            try expectEqual(error.kind, .unsupported, "kind (\(error))")
        }
    }

    hil.check("i2c.concurrent-transactions-stay-consistent") {
        // Two threads alternate addresses on one fd: the lock must keep I2C_SLAVE and the transfer together.
        let errors = Counter()
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            let (address, register, expected): (I2CAddress, UInt8, UInt8) = worker == 0 ? (bme, 0xD0, 0x60) : (adxl, 0x00, 0xE5)
            for _ in 0..<200 {
                if (try? bus.writeRead(address, [register], count: 1)) != [expected] { errors.increment() }
            }
        }
        try expectEqual(errors.value, 0, "wrong or failed reads out of 400")
    }

    hil.check("i2c.missing-adapter-says-enable-i2c") {
        do {
            _ = try LinuxI2CBus(path: "/dev/i2c-99")
            throw HILRunner.Failure("/dev/i2c-99 opened")
        } catch let error as LinuxI2COpenError {
            try expectEqual(error.kind, .noSuchDevice, "kind")
            try expect(error.description.contains("dtparam=i2c_arm=on"), "enable hint: \(error)")
            try expect(error.description.contains("SMBus stub driver"), "present adapters listed: \(error)")
        }
    }
}

/// A thread-safe counter for the concurrency check.
final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
