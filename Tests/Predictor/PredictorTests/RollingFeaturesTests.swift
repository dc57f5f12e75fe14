import Testing
@testable import Predictor

/// Feature math against values worked by hand (docs/predictor.md, "Features").
struct RollingFeaturesTests {
    let windows = FeatureWindows(short: 2, long: 4, minHistory: 2, stdFloor: 1e-6)

    func close(_ a: Double, _ b: Double, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(abs(a - b) <= 1e-12 * max(1, abs(b)), "\(what): \(a) vs hand-computed \(b)", sourceLocation: sourceLocation)
    }

    @Test func firstSampleHasNoHistoryAndIsWarmingUp() {
        var rolling = RollingFeatures(windows: windows)
        let f = rolling.next(1)
        #expect(f.history == 0)
        #expect(f.warmingUp)
        #expect(f.values == [1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0])
    }

    @Test func secondSampleDividesByTheFloorNotByZero() {
        var rolling = RollingFeatures(windows: windows)
        _ = rolling.next(1)
        let f = rolling.next(2)
        #expect(f.warmingUp, "1 sample of history < minHistory 2")
        close(f[.delta], 1, "delta")
        close(f[.zShort], 1e6, "z_short = (2 - 1) / floor")
        #expect(f.values.allSatisfy { $0.isFinite })
    }

    @Test func windowsExcludeTheCurrentSample() {
        var rolling = RollingFeatures(windows: windows)
        _ = rolling.next(1)
        _ = rolling.next(2)
        let f = rolling.next(4)
        #expect(!f.warmingUp)
        close(f[.shortMean], 1.5, "short_mean of [1, 2]")
        close(f[.shortStd], 0.5, "population std of [1, 2]")
        close(f[.zShort], 5, "(4 - 1.5) / 0.5")
        close(f[.zLong], 5, "long window = short window here")
        close(f[.deltaZ], 4, "delta 2 / 0.5")
        close(f[.levelZ], 0, "short_mean - long_mean")
        close(f[.stdRatio], 1, "0.5 / 0.5")
    }

    @Test func shortAndLongWindowsDiffer() {
        var rolling = RollingFeatures(windows: windows)
        for x in [1.0, 2, 4] { _ = rolling.next(x) }
        let f = rolling.next(8)
        // short = [2, 4]: mean 3, std 1; long = [1, 2, 4]: mean 7/3, variance 14/9.
        let longStd = 14.0.squareRoot() / 3
        close(f[.shortMean], 3, "short_mean")
        close(f[.shortStd], 1, "short_std")
        close(f[.longMean], 7.0 / 3, "long_mean")
        close(f[.longStd], longStd, "long_std")
        close(f[.zShort], 5, "z_short")
        close(f[.zLong], (8 - 7.0 / 3) / longStd, "z_long = 17/sqrt(14)")
        close(f[.deltaZ], 4 / longStd, "delta_z")
        close(f[.levelZ], (3 - 7.0 / 3) / longStd, "level_z")
        close(f[.stdRatio], 1 / longStd, "std_ratio")
    }

    @Test func theLongWindowForgetsTheOldestSample() {
        var rolling = RollingFeatures(windows: windows)
        for x in [1.0, 2, 4, 8, 16] { _ = rolling.next(x) }
        #expect(rolling.historyValues == [2, 4, 8, 16])
        let f = rolling.next(32)
        close(f[.longMean], 7.5, "mean of [2, 4, 8, 16]")
        close(f[.longStd], (((2 - 7.5) * (2 - 7.5) + 3.5 * 3.5 + 0.25 + 8.5 * 8.5) / 4).squareRoot(), "long_std")
        close(f[.shortMean], 12, "mean of [8, 16]")
        #expect(f.history == 4)
    }

    @Test func featureNamesAndColumnsAgree() {
        for (i, name) in FeatureName.allCases.enumerated() {
            #expect(FeatureName.index(of: name) == i, "\(name) must be column \(i)")
        }
        #expect(FeatureWindows.v1.problem == nil)
        #expect(FeatureWindows(short: 10, long: 5, minHistory: 2, stdFloor: 1e-6).problem != nil)
    }
}
