// TEMPORARY until FulcrumSystem.SystemdNotifier lands.
struct SystemdNotifier: Sendable {
    func ready(status: String) {}
    func reloading(status: String) {}
    func stopping() {}
}
