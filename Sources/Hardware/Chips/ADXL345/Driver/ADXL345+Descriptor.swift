import HAL
import SensorCore

extension ADXL345 {
    /// The ADXL345 for the chip catalog: ±16 g at 3.9 mg/LSB in full resolution (datasheet
    /// Table 1); the vibration channels are derived from the acceleration magnitude over a read
    /// window (RMS at most the range, peak at most twice it).
    public static let descriptors: [ChipDescriptor] = [
        ChipDescriptor(
            name: "ADXL345", family: "ADXL345",
            addresses: ADXL345Identification.addresses, addressPin: "ALT ADDRESS (SDO)",
            channels: [.init(.accelerationX, plausible: -16...16, resolution: 0.0039),
                       .init(.accelerationY, plausible: -16...16, resolution: 0.0039),
                       .init(.accelerationZ, plausible: -16...16, resolution: 0.0039),
                       .init(.vibrationRMS, plausible: 0...16, resolution: 0.0039),
                       .init(.vibrationPeak, plausible: 0...32, resolution: 0.0039)],
            identify: { bus, address, _ throws(I2CError) in
                try ADXL345Identification.identify(bus: bus, address: address)
            },
            makeDriver: { bus, address, clock in ADXL345(bus: bus, address: address, clock: clock) },
            // DEVID 0x00 … FIFO_STATUS 0x39 (datasheet Table 19).
            registerImage: 0x00...0x39),
    ]
}
