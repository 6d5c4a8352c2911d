/*
 * pcap_loop: the benchmark baseline, a plain libpcap read loop.
 *
 * Opens a capture with pcap_open_offline, walks every record with
 * pcap_next_ex and sums the captured lengths (so the compiler cannot drop the
 * loop), then prints "packets=N bytes=M". This is the floor for any tool that
 * reads a capture file record by record: sessmap's time over this loop's
 * time is the cost of decoding, reassembly and reporting.
 *
 *   gcc -O2 benches/pcap_loop.c -lpcap -o target/pcap_loop
 *   target/pcap_loop FILE.pcap
 */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    struct pcap_pkthdr *hdr;
    const u_char *data;
    uint64_t packets = 0, bytes = 0;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE.pcap\n", argv[0]);
        return 2;
    }
    pcap_t *p = pcap_open_offline(argv[1], errbuf);
    if (p == NULL) {
        fprintf(stderr, "pcap_loop: %s\n", errbuf);
        return 1;
    }
    while ((rc = pcap_next_ex(p, &hdr, &data)) == 1) {
        packets++;
        bytes += hdr->caplen;
    }
    if (rc == PCAP_ERROR) {
        fprintf(stderr, "pcap_loop: %s: %s\n", argv[1], pcap_geterr(p));
        pcap_close(p);
        return 1;
    }
    pcap_close(p);
    printf("packets=%llu bytes=%llu\n", (unsigned long long)packets,
           (unsigned long long)bytes);
    return 0;
}
