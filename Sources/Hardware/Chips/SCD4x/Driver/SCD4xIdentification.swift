import HAL

/// Identification for the doctor. The SCD4x has no ID register: the ID-equivalent is a
/// get_serial_number read (`w[36 82]`, 1 ms, `r9`) whose three CRCs are valid. get_serial_number
/// is refused while the chip measures, so identification stops a running measurement
/// (`w[3F 86]`, 500 ms) and leaves the chip idle; `start()` starts it again.
public enum SCD4xIdentification {
    /// `true` when the device at `address` answers get_serial_number with valid CRCs. `false`
    /// when nothing answers the address, when the device refuses a command (data NACK: not an
    /// SCD4x) or when a CRC is wrong. Other bus failures are thrown.
    public static func identify(bus: any I2CBus, address: I2CAddress, clock: any HALClock) throws(I2CError) -> Bool {
        let sensor = SCD4x(bus: bus, address: address, clock: clock)
        do throws(SCD4xError) {
            _ = try sensor.readSerialNumber()
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
