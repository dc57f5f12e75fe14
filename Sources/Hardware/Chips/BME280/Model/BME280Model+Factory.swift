import HALSimulation

extension BME280Model {
    /// Models of the BME280 and BMP280 for the chip catalog. A dump is replayed as whichever part
    /// its `id` register names.
    public static let factories: [ChipModelFactory] = [("BME280", Part.bme280), ("BMP280", Part.bmp280)].map { name, part in
        ChipModelFactory(chip: name) { environment, dump in
            if let dump { return try BME280Model(environment: environment, dump: dump) }
            return BME280Model(environment: environment, part: part)
        }
    }
}
