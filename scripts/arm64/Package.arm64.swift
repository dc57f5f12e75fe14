
// ---- Appended by scripts/arm64-check.sh to a copy of Package.swift inside the arm64 root ----
// Debian 13's swiftlang 6.0.3 cannot resolve the external packages (they declare tools 6.1 and
// 6.2), so this copy keeps only the targets whose whole dependency closure stays inside the
// package, less those the script drops (@DROP@: failed to compile in this run, or test targets
// not asked for), and adds the arm64 probe with the dependencies the script gives (@PROBE@).
let arm64Drop: Set<String> = [@DROP@]
let arm64ByName = Dictionary(package.targets.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
var arm64Verdicts: [String: Bool] = [:]
@MainActor func arm64Buildable(_ name: String) -> Bool {
    if let verdict = arm64Verdicts[name] { return verdict }
    guard let target = arm64ByName[name], !arm64Drop.contains(name) else { return false }
    let verdict = target.dependencies.allSatisfy { dependency in
        switch dependency {
        case .targetItem(let name, _), .byNameItem(let name, _): return arm64Buildable(name)
        default: return false  // a product of another package
        }
    }
    arm64Verdicts[name] = verdict
    return verdict
}
package.targets = package.targets.filter { arm64Buildable($0.name) } + [
    .systemLibrary(name: "CKernelI2C", path: "scripts/arm64/CKernelI2C"),
    .executableTarget(name: "arm64-probe", dependencies: [@PROBE@], path: "scripts/arm64/Probe"),
]
package.products = []
package.dependencies = []
