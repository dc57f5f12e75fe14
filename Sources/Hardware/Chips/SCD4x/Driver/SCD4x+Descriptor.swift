import HAL
import SensorCore

extension SCD4x {
    /// The SCD40 and SCD41 for the chip catalog. The bus cannot tell them apart (datasheet v1.3
    /// has no variant command), so both identify as "SCD4x" and the SCD41 stands for the family
    /// in a bus scan; the board file names the part. Ranges: CO2 output 0…40,000 ppm in 1 ppm
    /// steps, operating conditions −10…60 °C and 0…100 %RH; temperature and humidity steps are
    /// one raw count, 175/65535 °C and 100/65535 %RH (datasheet §3.6, Table 11).
    public static let descriptors: [ChipDescriptor] = SCD4xVariant.all.map { variant in
        ChipDescriptor(
            name: variant.name, family: "SCD4x", identifiesAs: "SCD4x",
            addresses: [SCD4x.defaultAddress], addressPin: "none: the address is fixed at 0x62",
            detectable: variant == .scd41,
            channels: [.init(.co2, plausible: 0...40_000, resolution: 1),
                       .init(.temperature, plausible: -10...60, resolution: 175.0 / 65535),
                       .init(.humidity, plausible: 0...100, resolution: 100.0 / 65535)],
            identify: { bus, address, clock throws(I2CError) in
                try SCD4xIdentification.identify(bus: bus, address: address, clock: clock)
            },
            makeDriver: { bus, address, clock in SCD4x(bus: bus, address: address, clock: clock, variant: variant) },
            about: { bus, address, clock in
                // What the technician can match against the label, and whether the sensor
                // recalibrates itself (it assumes fresh air, about 400 ppm, once a week).
                let sensor = SCD4x(bus: bus, address: address, clock: clock, variant: variant)
                guard let serial = try? sensor.readSerialNumber() else { return nil }
                let hex = String(serial, radix: 16, uppercase: true)
                let asc = (try? sensor.readAutomaticSelfCalibrationEnabled()).map { $0 ? "on" : "off" } ?? "unknown"
                return "serial 0x\(String(repeating: "0", count: max(0, 12 - hex.count)) + hex), automatic self-calibration \(asc)"
            })
    }
}
