import HALSimulation

extension SHT3xModel {
    /// Models of the SHT30, SHT31 and SHT35 for the chip catalog (one model: they differ only
    /// in accuracy).
    public static let factories: [ChipModelFactory] = ["SHT30", "SHT31", "SHT35"].map { name in
        ChipModelFactory(chip: name) { environment, dump in
            guard dump == nil else { throw NoRegisterMap() }
            return SHT3xModel(environment: environment)
        }
    }

    /// An SHT3x takes 16-bit commands and has no register map, so there is nothing to replay.
    struct NoRegisterMap: Error, CustomStringConvertible {
        var description: String {
            "an SHT3x has no register map (it takes 16-bit commands), so an i2cdump cannot be replayed; remove 'dump'"
        }
    }
}
