/// Primality for Maglev table sizes. Sizes are at most a few million, so trial division by
/// 6k ± 1 up to √n (a few thousand steps) is exact and fast enough.
enum Primes {
    static func isPrime(_ n: Int) -> Bool {
        if n < 2 { return false }
        if n < 4 { return true }
        if n % 2 == 0 || n % 3 == 0 { return false }
        var d = 5
        while d <= n / d {
            if n % d == 0 || n % (d + 2) == 0 { return false }
            d += 6
        }
        return true
    }

    /// The smallest prime >= n.
    static func nextPrime(atLeast n: Int) -> Int {
        var candidate = max(n, 2)
        while !isPrime(candidate) { candidate += 1 }
        return candidate
    }
}
