import HALSimulation

extension SCD4xModel {
    /// Models of the SCD40 and SCD41 for the chip catalog. The SCD4x takes 16-bit commands and
    /// has no register map, so there is no dump to replay.
    public static let factories: [ChipModelFactory] = Variant.allCases.map { variant in
        ChipModelFactory(chip: variant.rawValue) { environment, dump in
            guard dump == nil else { throw NoRegisterMap() }
            return SCD4xModel(environment: environment, variant: variant)
        }
    }

    struct NoRegisterMap: Error, CustomStringConvertible {
        var description: String {
            "an SCD4x has no register map (it takes 16-bit commands), so an i2cdump cannot be replayed; remove 'dump'"
        }
    }
}
