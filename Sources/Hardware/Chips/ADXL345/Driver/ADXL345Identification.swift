import HAL

/// Asks a bus whether an ADXL345 answers at an address, for `doctor` and board discovery.
public enum ADXL345Identification {
    /// Where an ADXL345 can sit: 0x53 (ALT ADDRESS low) and 0x1D (high).
    public static let addresses = [ADXL345.primaryAddress, ADXL345.alternateAddress]

    /// Reads DEVID (0x00) with `w[00] r1`; true when it is 0xE5. An empty address throws the
    /// bus's `.noAcknowledge(.address)`.
    public static func identify(bus: any I2CBus, address: I2CAddress) throws(I2CError) -> Bool {
        try bus.writeRead(address, [ADXL345.Register.devID], count: 1).first == ADXL345.deviceID
    }
}
