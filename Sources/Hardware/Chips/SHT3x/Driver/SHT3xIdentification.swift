import HAL

/// Identification for the doctor. The SHT3x has no ID register: the ID-equivalent is a
/// status-register read (`w[F3 2D]`, 1 ms, `r3`) whose CRC-8 is valid.
public enum SHT3xIdentification {
    /// `true` when the device at `address` answers the status-register read with a valid CRC.
    /// `false` when nothing answers the address, when the device refuses the command
    /// (data NACK: not an SHT3x) or when the CRC is wrong. Other bus failures are thrown.
    public static func identify(bus: any I2CBus, address: I2CAddress, clock: any HALClock) throws(I2CError) -> Bool {
        let sensor = SHT3x(bus: bus, address: address, clock: clock)
        do throws(SHT3xError) {
            _ = try sensor.readStatus()
            return true
        } catch {
            guard case .bus(let busError) = error else { return false }
            switch busError.kind {
            case .noAcknowledge(.address), .noAcknowledge(.data): return false
            default: throw busError
            }
        }
    }
}
