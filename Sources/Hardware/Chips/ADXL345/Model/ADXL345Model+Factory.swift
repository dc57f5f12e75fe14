import HALSimulation

extension ADXL345Model {
    /// The ADXL345 model for the chip catalog, fresh or replaying an `i2cdump`.
    public static let factories: [ChipModelFactory] = [
        ChipModelFactory(chip: "ADXL345") { environment, dump in
            if let dump { return try ADXL345Model(environment: environment, dump: dump) }
            return ADXL345Model(environment: environment)
        },
    ]
}
