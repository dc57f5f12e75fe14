// The model's own copy of the datasheet compensation (BST-BME280-DS002 §4.2.3 / §8.2, shift form),
// transcribed separately from the driver and computed in Int64 throughout. The
// model uses it backwards: it searches the ADC word whose compensated value is closest to the
// physical value the environment asks for, so a correct driver reads that value back.

extension BME280Model {
    /// Trimming parameters decoded from the NVM image (§4.2.2, Table 16).
    struct Trimming {
        var t1 = 0, t2 = 0, t3 = 0
        var p1 = 0, p2 = 0, p3 = 0, p4 = 0, p5 = 0, p6 = 0, p7 = 0, p8 = 0, p9 = 0
        var h1 = 0, h2 = 0, h3 = 0, h4 = 0, h5 = 0, h6 = 0

        init(low: [UInt8], high: [UInt8]) {
            func byte(_ bytes: [UInt8], _ i: Int) -> Int { i < bytes.count ? Int(bytes[i]) : 0 }
            func unsigned(_ i: Int) -> Int { byte(low, i) + byte(low, i + 1) * 256 }
            func signed(_ i: Int) -> Int { let u = unsigned(i); return u >= 32768 ? u - 65536 : u }
            func signed8(_ v: Int) -> Int { v >= 128 ? v - 256 : v }
            t1 = unsigned(0); t2 = signed(2); t3 = signed(4)
            p1 = unsigned(6); p2 = signed(8); p3 = signed(10); p4 = signed(12); p5 = signed(14)
            p6 = signed(16); p7 = signed(18); p8 = signed(20); p9 = signed(22)
            h1 = byte(low, 25)
            let e1 = byte(high, 0), e2 = byte(high, 1), e3 = byte(high, 2), e4 = byte(high, 3)
            let e5 = byte(high, 4), e6 = byte(high, 5), e7 = byte(high, 6)
            h2 = signed8(e2) * 256 + e1
            h3 = e3
            // 12-bit two's complement values: E4 = H4[11:4], E5[3:0] = H4[3:0]; E6 = H5[11:4], E5[7:4] = H5[3:0].
            h4 = signed8(e4) * 16 + (e5 & 0x0F)
            h5 = signed8(e6) * 16 + (e5 >> 4)
            h6 = signed8(e7)
        }

        func fineTemperature(_ adcT: Int) -> Int64 {
            let x = Int64(adcT), t1 = Int64(self.t1)
            let a = (((x >> 3) &- (t1 << 1)) &* Int64(t2)) >> 11
            let d = (x >> 4) &- t1
            let b = (((d &* d) >> 12) &* Int64(t3)) >> 14
            return a &+ b
        }

        /// Pa × 256.
        func pressureQ8(_ adcP: Int, fine: Int64) -> Int64 {
            var v1 = fine &- 128_000
            var v2 = v1 &* v1 &* Int64(p6)
            v2 = v2 &+ ((v1 &* Int64(p5)) &<< 17)
            v2 = v2 &+ (Int64(p4) &<< 35)
            v1 = ((v1 &* v1 &* Int64(p3)) >> 8) &+ ((v1 &* Int64(p2)) &<< 12)
            v1 = ((Int64(1) &<< 47 &+ v1) &* Int64(p1)) >> 33
            if v1 == 0 { return 0 }
            var p = 1_048_576 &- Int64(adcP)
            let numerator = ((p &<< 31) &- v2) &* 3125
            p = numerator.dividedReportingOverflow(by: v1).partialValue
            v1 = (Int64(p9) &* (p >> 13) &* (p >> 13)) >> 25
            v2 = (Int64(p8) &* p) >> 19
            return ((p &+ v1 &+ v2) >> 8) &+ (Int64(p7) &<< 4)
        }

        /// %RH × 1024.
        func humidityQ10(_ adcH: Int, fine: Int64) -> Int64 {
            let x = fine &- 76_800
            let first = (((Int64(adcH) &<< 14) &- (Int64(h4) &<< 20) &- (Int64(h5) &* x)) &+ 16_384) >> 15
            let inner = ((x &* Int64(h6)) >> 10) &* (((x &* Int64(h3)) >> 11) &+ 32_768)
            let second = (((inner >> 10) &+ 2_097_152) &* Int64(h2) &+ 8_192) >> 14
            var v = first &* second
            v = v &- (((((v >> 15) &* (v >> 15)) >> 7) &* Int64(h1)) >> 4)
            v = Swift.min(Swift.max(v, 0), 419_430_400)
            return v >> 12
        }
    }

    /// The code `k` in `0..<levels` whose `value(k)` is nearest `target`, for a monotonic `value`
    /// (binary search for the crossing, then the neighbours decide).
    static func nearestCode(levels: Int, target: Double, _ value: (Int) -> Double) -> Int {
        let rising = value(levels - 1) >= value(0)
        var low = 0, high = levels - 1
        while low < high {
            let mid = (low + high) / 2
            let v = value(mid)
            if rising ? v < target : v > target { low = mid + 1 } else { high = mid }
        }
        var best = low
        for k in Swift.max(0, low - 2)...Swift.min(levels - 1, low + 2)
        where abs(value(k) - target) < abs(value(best) - target) {
            best = k
        }
        return best
    }
}
