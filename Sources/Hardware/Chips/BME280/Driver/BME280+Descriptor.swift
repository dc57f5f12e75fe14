import HAL
import SensorCore

extension BME280 {
    /// The BME280 and BMP280 parts for the chip catalog. Ranges are the datasheet's operating
    /// ranges (§1, Table 1: −40…85 °C, 0…100 %RH, 300…1100 hPa); resolutions its output
    /// resolutions (0.01 °C, 0.008 %RH, 0.18 Pa).
    public static let descriptors: [ChipDescriptor] = BME280Variant.known.map { variant in
        let specs: [Channel: ChipDescriptor.ChannelSpec] = [
            .temperature: .init(.temperature, plausible: -40...85, resolution: 0.01),
            .humidity: .init(.humidity, plausible: 0...100, resolution: 0.008),
            .pressure: .init(.pressure, plausible: 30_000...110_000, resolution: 0.18),
        ]
        return ChipDescriptor(
            name: variant.name, family: "BME280",
            addresses: [BME280.primaryAddress, BME280.secondaryAddress], addressPin: "SDO",
            channels: variant.channels.compactMap { specs[$0] },
            identify: { bus, address, _ throws(I2CError) in
                try BME280Identification.variant(bus: bus, address: address) == variant
            },
            makeDriver: { bus, address, clock in BME280(bus: bus, address: address, clock: clock, variant: variant) },
            // Calibration words 0x88…0xA1, id 0xD0, calibration 0xE1…0xE7, control and data 0xF2…0xFE (datasheet §5.3).
            registerImage: 0x80...0xFF)
    }
}
