#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import HALSimulation

/// Liu, Ting and Zhou's isolation forest, as a baseline detector for the evaluation (never served).
///
/// Contract: `trees` trees, each grown on `sampleSize` rows drawn without replacement (all rows when
/// fewer) to depth ⌈log2 sampleSize⌉ with uniform random splits; `score(_:)` is
/// 2^(−E[h(x)] / c(ψ)), in (0, 1], higher is more anomalous. Deterministic for a given seed.
public struct IsolationForest: Sendable {
    struct Node: Sendable {
        var feature: Int32
        var left: Int32
        var right: Int32
        var threshold: Double
        /// Rows that reached a leaf (for the c(size) path correction); unused in internal nodes.
        var size: Int32
    }

    private var nodes: [Node] = []
    private var roots: [Int] = []
    private let normaliser: Double

    public init(rows: [[Double]], trees: Int = 100, sampleSize: Int = 256, seed: UInt64) {
        var rng = SplitMix64(seed: SplitMix64.hash(seed, 0x15F0_4E57))
        let psi = max(min(sampleSize, rows.count), 2)
        normaliser = Self.c(psi)
        let limit = Int(ceil(log2(Double(psi))))
        guard !rows.isEmpty else { return }
        for _ in 0..<trees {
            var pool = Array(rows.indices)
            for i in 0..<min(psi, pool.count) {
                let j = i + Int(rng.next() % UInt64(pool.count - i))
                pool.swapAt(i, j)
            }
            roots.append(nodes.count)
            grow(Array(pool.prefix(psi)), rows: rows, depth: 0, limit: limit, rng: &rng)
        }
    }

    @discardableResult
    private mutating func grow(_ sample: [Int], rows: [[Double]], depth: Int, limit: Int, rng: inout SplitMix64) -> Int {
        let index = nodes.count
        nodes.append(Node(feature: -1, left: -1, right: -1, threshold: 0, size: Int32(sample.count)))
        guard depth < limit, sample.count > 1, let width = rows.first?.count, width > 0 else { return index }
        let feature = Int(rng.next() % UInt64(width))
        var lo = Double.infinity, hi = -Double.infinity
        for r in sample { lo = min(lo, rows[r][feature]); hi = max(hi, rows[r][feature]) }
        guard lo < hi else { return index }
        let threshold = lo + (hi - lo) * rng.unit()
        let left = sample.filter { rows[$0][feature] < threshold }
        let right = sample.filter { rows[$0][feature] >= threshold }
        let l = grow(left, rows: rows, depth: depth + 1, limit: limit, rng: &rng)
        let r = grow(right, rows: rows, depth: depth + 1, limit: limit, rng: &rng)
        nodes[index].feature = Int32(feature)
        nodes[index].threshold = threshold
        nodes[index].left = Int32(l)
        nodes[index].right = Int32(r)
        return index
    }

    /// The anomaly score of one row (same columns as the rows fitted on); 0 for an empty forest.
    public func score(_ x: [Double]) -> Double {
        guard !roots.isEmpty else { return 0 }
        var total = 0.0
        for root in roots {
            var i = root, depth = 0.0
            while nodes[i].feature >= 0 {
                i = x[Int(nodes[i].feature)] < nodes[i].threshold ? Int(nodes[i].left) : Int(nodes[i].right)
                depth += 1
            }
            total += depth + Self.c(Int(nodes[i].size))
        }
        return pow(2, -(total / Double(roots.count)) / normaliser)
    }

    /// The mean path length of an unsuccessful search in a binary search tree of n keys.
    static func c(_ n: Int) -> Double {
        guard n > 1 else { return 0 }
        let harmonic = log(Double(n - 1)) + 0.577_215_664_901_532_9
        return 2 * harmonic - 2 * Double(n - 1) / Double(n)
    }
}
