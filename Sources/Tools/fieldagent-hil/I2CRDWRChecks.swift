import HAL
import HALLinux

/// LinuxI2CBus's plain-I2C path (one I2C_RDWR per transaction, as on a Raspberry Pi) against
/// scripts/kernel-hil/i2c-hil-adapter.c: one register-file target at 0x44, ENXIO elsewhere, and
/// counters of master_xfer calls and messages in HIL_I2C_RDWR_COUNTERS. The init script plants
/// 0x44:0x00 = 0x5A with i2cset.
func i2cReadWriteChecks(_ hil: HILRunner) {
    let target = I2CAddress(UInt8(0x44))
    var opened: LinuxI2CBus?
    var counters = ""

    func counts() throws -> (transfers: Int, messages: Int) {
        (Int(try readAttribute("\(counters)/transfers")) ?? -1, Int(try readAttribute("\(counters)/messages")) ?? -1)
    }

    hil.check("i2c-rdwr.open-plain-i2c-adapter") {
        let bus = try LinuxI2CBus(path: try environment("HIL_I2C_RDWR_BUS"))
        counters = try environment("HIL_I2C_RDWR_COUNTERS")
        opened = bus
        try expectEqual(bus.adapterName, "fieldagent HIL I2C adapter", "adapter name")
        try expect(bus.functionality.supportsPlainI2C, "I2C_FUNC_I2C expected: \(bus.functionality)")
    }
    guard let bus = opened else { return }

    hil.check("i2c-rdwr.read-byte-planted-by-i2cset") {
        try expectEqual(try bus.writeRead(target, [0x00], count: 1), [0x5A], "0x44:0x00")
    }

    hil.check("i2c-rdwr.write-read-is-one-combined-transfer") {
        let payload: [UInt8] = (0..<40).map { UInt8(0xA0 &+ $0) }  // longer than any SMBus block
        try bus.write(target, [0x10] + payload)
        let before = try counts()
        let back = try bus.writeRead(target, [0x10], count: 40)
        let after = try counts()
        try expectEqual(back, payload, "40 bytes read back from 0x10")
        try expectEqual(after.transfers - before.transfers, 1, "master_xfer calls for one transaction")
        try expectEqual(after.messages - before.messages, 2, "messages in that call (write, repeated START, read)")
    }

    hil.check("i2c-rdwr.sht3x-style-command-then-read") {
        try bus.write(target, [0x24, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77])
        let before = try counts()
        let answer = try bus.transaction(target, [.write([0x24, 0x11]), .read(count: 6)])
        try expectEqual(answer, [[0x22, 0x33, 0x44, 0x55, 0x66, 0x77]], "6 bytes after a 2-byte command")
        try expectEqual(try counts().transfers - before.transfers, 1, "master_xfer calls")
    }

    hil.check("i2c-rdwr.absent-address-is-address-nack-enxio") {
        do {
            _ = try bus.writeRead(I2CAddress(UInt8(0x45)), [0x00], count: 1)
            throw HILRunner.Failure("0x45 answered")
        } catch let error as I2CError {
            try expectEqual(error.kind, .noAcknowledge(.address), "kind (\(error))")
            try expect(error.errno == 6, "errno ENXIO expected: \(error)")
            try expect(error.description.contains("w[00] r1"), "operation in message: \(error)")
        }
    }

    hil.check("i2c-rdwr.scan-finds-the-one-target") {
        var found: [I2CAddress] = []
        for address in I2CAddress.scanRange where try bus.probe(address) { found.append(address) }
        try expectEqual(found, [target], "scan 0x08…0x77")
    }

    hil.check("i2c-rdwr.too-many-messages-refused-before-the-kernel") {
        let before = try counts()
        do {
            _ = try bus.transaction(target, Array(repeating: I2COperation.read(count: 1), count: 43))
            throw HILRunner.Failure("43 messages went through")
        } catch let error as I2CError {
            try expectEqual(error.kind, .unsupported, "kind (\(error))")
        }
        try expectEqual(try counts().transfers, before.transfers, "master_xfer calls")
    }
}
