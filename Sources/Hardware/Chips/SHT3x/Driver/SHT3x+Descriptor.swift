import HAL
import SensorCore

extension SHT3x {
    /// The SHT30, SHT31 and SHT35 for the chip catalog. They differ only in accuracy, so the bus
    /// cannot tell them apart: each identifies as "SHT3x", and only the SHT31 stands for the
    /// family in a bus scan. `SHT3x` in a board file means SHT31. Ranges: datasheet §2
    /// (−40…125 °C, 0…100 %RH); resolution 0.01 °C and 0.01 %RH (Tables 1–2).
    public static let descriptors: [ChipDescriptor] = SHT3xVariant.all.map { variant in
        ChipDescriptor(
            name: variant.name, aliases: variant == .sht31 ? ["SHT3x"] : [], family: "SHT3x", identifiesAs: "SHT3x",
            addresses: SHT3xAddress.all, addressPin: "ADDR", detectable: variant == .sht31,
            channels: [.init(.temperature, plausible: -40...125, resolution: 0.01),
                       .init(.humidity, plausible: 0...100, resolution: 0.01)],
            identify: { bus, address, clock throws(I2CError) in
                try SHT3xIdentification.identify(bus: bus, address: address, clock: clock)
            },
            makeDriver: { bus, address, clock in SHT3x(bus: bus, address: address, clock: clock, variant: variant) })
    }
}
