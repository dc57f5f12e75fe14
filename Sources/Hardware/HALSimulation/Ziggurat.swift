/// Standard normal deviates by the ziggurat method (G. Marsaglia and W. W. Tsang, "The Ziggurat
/// Method for Generating Random Variables", Journal of Statistical Software 5(8), 2000), with 128
/// layers. The scenario draws three of them per simulated accelerometer conversion, thousands per
/// message; Box–Muller cost a logarithm, a square root and a cosine each, the ziggurat costs a
/// table lookup, a multiplication and a comparison 98.8 % of the time.
///
/// ## Method
/// The density f(x) = exp(−x²/2) is covered by 128 layers of equal area `v`: layer 0 is the base
/// strip of width `v / f(r)`, which includes the tail beyond `r`; layers 1…127 are rectangles
/// [0, xᵢ] × [f(xᵢ), f(xᵢ₋₁)]. A draw picks a layer and a signed position in it from one 64-bit
/// word (layer from the low 7 bits, position from the top 56, so the two are independent). Inside
/// the next layer's width it is accepted at once; otherwise the wedge is tested against f, and
/// the tail is drawn by Marsaglia's exponential method. The result is exactly normal up to the
/// 56-bit resolution of the position; the constants `r` and `v` are the paper's for 128 layers.
enum Ziggurat {
    static let layers = 128
    /// Where the tail begins.
    static let r = 3.442619855899
    /// The area of each layer.
    static let v = 9.91256303526217e-3
    /// The scale of the signed position: positions lie in [−2⁵⁵, 2⁵⁵).
    static let scale = 36_028_797_018_963_968.0  // 2^55

    /// Per layer: `k` the largest position accepted at once, `w` the width per unit of position,
    /// `f` the density at the layer's outer edge.
    /// Inline arrays: a draw reads them in place, with no reference to count.
    struct Tables: Sendable {
        var k = InlineArray<128, Int64>(repeating: 0)
        var w = InlineArray<128, Double>(repeating: 0)
        var f = InlineArray<128, Double>(repeating: 0)
    }

    /// The paper's table set-up (`zigset`), with 2⁵⁵ in place of 2³¹.
    static let tables: Tables = {
        var t = Tables()
        var dn = r, tn = r
        let q = v / _exp(-0.5 * dn * dn)
        t.k[0] = Int64(dn / q * scale)
        t.k[1] = 0
        t.w[0] = q / scale
        t.w[layers - 1] = dn / scale
        t.f[0] = 1
        t.f[layers - 1] = _exp(-0.5 * dn * dn)
        for i in stride(from: layers - 2, through: 1, by: -1) {
            dn = (-2 * _log(v / dn + _exp(-0.5 * dn * dn))).squareRoot()
            t.k[i + 1] = Int64(dn / tn * scale)
            tn = dn
            t.f[i] = _exp(-0.5 * dn * dn)
            t.w[i] = dn / scale
        }
        return t
    }()

    /// One standard normal deviate from `generator` (one word 98.8 % of the time, a few more otherwise).
    @inline(__always)
    static func normal(using generator: inout SplitMix64) -> Double {
        let word = generator.next()
        let layer = Int(word & 0x7F)
        let position = Int64(bitPattern: word) >> 8
        if position.magnitude < tables.k[layer].magnitude { return Double(position) * tables.w[layer] }
        return slowPath(layer: layer, position: position, using: &generator)
    }

    /// The wedges and the tail (`nfix` in the paper).
    private static func slowPath(layer: Int, position: Int64, using generator: inout SplitMix64) -> Double {
        var layer = layer, position = position
        while true {
            if layer == 0 {
                // The tail beyond r: x = −ln(U₁)/r, y = −ln(U₂), accepted when 2y > x².
                var x = 0.0, y = 0.0
                repeat {
                    x = -_log(1 - generator.unit()) / r
                    y = -_log(1 - generator.unit())
                } while y + y < x * x
                return position > 0 ? r + x : -r - x
            }
            let x = Double(position) * tables.w[layer]
            if tables.f[layer] + generator.unit() * (tables.f[layer - 1] - tables.f[layer]) < _exp(-0.5 * x * x) {
                return x
            }
            let word = generator.next()
            layer = Int(word & 0x7F)
            position = Int64(bitPattern: word) >> 8
            if position.magnitude < tables.k[layer].magnitude { return Double(position) * tables.w[layer] }
        }
    }
}
