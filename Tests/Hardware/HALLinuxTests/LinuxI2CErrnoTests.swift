import HAL
import HALLinux
import Testing

/// errno values transcribed from the Linux asm-generic errno tables (same on x86-64 and arm64),
/// not from HALLinux, so a wrong constant there fails here.
@Suite struct LinuxI2CErrnoTests {
    static let table: [(errno: Int32, name: String, kind: I2CError.Kind)] = [
        (6, "ENXIO", .noAcknowledge(.address)),
        (121, "EREMOTEIO", .noAcknowledge(.address)),
        (19, "ENODEV", .noAcknowledge(.address)),
        (110, "ETIMEDOUT", .timeout),
        (11, "EAGAIN", .arbitrationLost),
        (5, "EIO", .bus),
        (16, "EBUSY", .bus),
        (22, "EINVAL", .bus),
        (71, "EPROTO", .bus),
        (95, "EOPNOTSUPP", .unsupported),
        (1, "EPERM", .other),
        (12, "ENOMEM", .other),
    ]

    @Test(arguments: table.indices)
    func errnoMapsToKind(_ index: Int) {
        let row = Self.table[index]
        #expect(LinuxI2CErrno.kind(row.errno) == row.kind, "\(row.name) (\(row.errno))")
    }

    @Test func addressNACKIsWhatProbeTreatsAsAbsent() {
        // I2CBus.probe returns false only for .noAcknowledge(.address): i2c-stub's ENODEV must land there.
        #expect(LinuxI2CErrno.kind(19) == .noAcknowledge(.address))
        #expect(LinuxI2CErrno.kind(6) != .noAcknowledge(.data))
    }
}
