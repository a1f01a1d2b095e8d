// int80 makes one i386 system call through int $0x80 from a 64-bit
// process and exits with its errno (0 on success):
//
//	int80 NR [ARG...]
//
// Built with gcc -nostdlib -static, it needs no 32-bit libraries.

static long int80(long nr, long a, long b, long c, long d, long e) {
	long ret;
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e)
			 : "memory");
	return ret;
}

static void exit_group(long status) {
	__asm__ volatile("syscall" : : "a"(231), "D"(status) : "rcx", "r11", "memory");
	for (;;) {
	}
}

static long parse(const char *s) {
	long base = 10, v = 0;
	if (s[0] == '0' && s[1] == 'x') {
		base = 16;
		s += 2;
	}
	for (; *s; s++) {
		long d;
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else
			exit_group(255);
		if (d >= base)
			exit_group(255);
		v = v * base + d;
	}
	return v;
}

void cmain(long *sp) {
	long argc = sp[0];
	char **argv = (char **)(sp + 1);
	long a[6] = {0};
	if (argc < 2 || argc > 7)
		exit_group(255);
	for (long i = 2; i < argc; i++)
		a[i - 2] = parse(argv[i]);
	int r = (int)int80(parse(argv[1]), a[0], a[1], a[2], a[3], a[4]);
	exit_group(r < 0 && r > -4096 ? -r : 0);
}

__asm__(".globl _start\n"
	"_start:\n"
	"	mov %rsp, %rdi\n"
	"	and $-16, %rsp\n"
	"	call cmain\n"
	"	hlt\n");
