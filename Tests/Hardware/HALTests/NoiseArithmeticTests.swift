@testable import HALSimulation
import TestSupport
import Testing

/// The scenario's noise is keyed by (seed, channel, time step): the shortcuts that compute the
/// key per sample must give exactly what the plain arithmetic gives, or every simulated reading
/// would change.
struct NoiseArithmeticTests {
    /// The durations a simulation divides: conversion instants in nanoseconds up to a simulated
    /// year, odd attosecond counts, both signs, and the edges of the 64-bit fast path.
    static func durations() -> [Duration] {
        var random = SeededGenerator(seed: 20)
        var values: [Duration] = [.zero, .nanoseconds(1), .microseconds(100), .milliseconds(10), .seconds(4.3),
                                  .seconds(9_000), .seconds(31_536_000), Duration(attoseconds: Int128(Int64.max)),
                                  Duration(attoseconds: Int128(Int64.max) + 1), Duration(attoseconds: Int128(Int64.min)),
                                  Duration(attoseconds: Int128(Int64.min) - 1), Duration(attoseconds: 1 << 100 | 1 << 47 | 1)]
        for _ in 0..<20_000 {
            let nanoseconds = Int64(random.next() % 31_536_000_000_000_000)
            values.append(.nanoseconds(nanoseconds))
            values.append(Duration(attoseconds: Int128(Int64(bitPattern: random.next()))
                                   * Int128(random.next() % 1_000_000) + Int128(random.next() % 1024)))
            // Halfway cases of the 64-bit rounding: 54 significant bits ending in 1, shifted up.
            let halfway = Int128((random.next() >> 10) | 1) << Int(random.next() % 60)
            values.append(Duration(attoseconds: random.next() % 2 == 0 ? halfway : -halfway))
        }
        return values
    }

    @Test func ratioIsTheStandardLibrarysDivisionBitForBit() {
        let values = Self.durations()
        let steps: [Duration] = [.microseconds(100), .milliseconds(10), .nanoseconds(312_500), .seconds(3)]
        var mismatches: [String] = []
        for t in values {
            let conversion = Duration.nearestDouble(t.attoseconds)
            if conversion.bitPattern != Double(t.attoseconds).bitPattern {
                mismatches.append("Double(\(t.attoseconds)): \(conversion) != \(Double(t.attoseconds))")
            }
            for step in steps where t.ratio(step).bitPattern != (t / step).bitPattern {
                mismatches.append("\(t) / \(step): \(t.ratio(step)) != \(t / step)")
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, first: \(mismatches.first ?? "")")
    }

    @Test func threeWordHashIsTheVariadicHash() {
        var random = SeededGenerator(seed: 7)
        for _ in 0..<1_000 {
            let (a, b, c) = (random.next(), random.next(), random.next())
            // The variadic hash folds the words through one SplitMix64 step each.
            var h: UInt64 = 0
            for word in [a, b, c] {
                var g = SplitMix64(seed: h ^ word)
                h = g.next()
            }
            #expect(SplitMix64.hash(a, b, c) == h)
        }
    }
}
