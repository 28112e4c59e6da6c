// libstdc++ and OpenMP (libgomp) inside the cc image.
#include <iostream>
#include <map>
#include <numeric>
#include <omp.h>
#include <string>
#include <vector>

int main() {
    std::vector<long> v(1000000);
    std::iota(v.begin(), v.end(), 1);
    long sum = 0;
#pragma omp parallel for reduction(+ : sum)
    for (long i = 0; i < (long)v.size(); ++i) sum += v[i];
    std::map<std::string, int> m{{"threads", omp_get_max_threads()}};
    if (sum != 500000500000L) { std::cout << "bad sum " << sum << "\n"; return 1; }
    std::cout << "ok sum=" << sum << " threads=" << m["threads"] << "\n";
    return 0;
}
