/*
 * Excerpt of arch/arm64/kvm/mmu.c (user_mem_abort) AFTER commit
 * e07fc9e2da91 "KVM: arm64: Fix page leak in user_mem_abort() on atomic fault"
 * (Fuad Tabba, Mar 2026; Fixes: 2937aeec9dc5).
 *
 * Assembled from: (1) the verbatim v6.17-era user_mem_abort() stored in a
 * public copy of mmu.c; (2) the LS64 patch (2937aeec9dc5) that added the
 * excl/atomic-fault block (read verbatim); (3) the context lines of the
 * e07fc9e2da91 diff (ret = -ENOEXEC; if (ret) { kvm_release_page_unused(page);
 * return ret; } ... if (nested) ...). Lines not covered by those sources are
 * elided with "..." comments; the cacheable-PFNMAP branch follows the
 * 5f9466b50c1b stable diff (comments there trimmed).
 */

static int user_mem_abort(struct kvm_vcpu *vcpu, phys_addr_t fault_ipa,
			  struct kvm_s2_trans *nested,
			  struct kvm_memory_slot *memslot, unsigned long hva,
			  bool fault_is_perm)
{
	int ret = 0;
	bool write_fault, writable, force_pte = false;
	bool exec_fault, mte_allowed, is_vma_cacheable;
	bool s2_force_noncacheable = false, vfio_allow_any_uc = false;
	unsigned long mmu_seq;
	phys_addr_t ipa = fault_ipa;
	struct kvm *kvm = vcpu->kvm;
	struct vm_area_struct *vma;
	short vma_shift;
	void *memcache;
	gfn_t gfn;
	kvm_pfn_t pfn;
	bool logging_active = memslot_is_logging(memslot);
	long vma_pagesize, fault_granule;
	enum kvm_pgtable_prot prot = KVM_PGTABLE_PROT_R;
	struct kvm_pgtable *pgt;
	struct page *page;
	vm_flags_t vm_flags;
	enum kvm_pgtable_walk_flags flags = KVM_PGTABLE_WALK_HANDLE_FAULT | KVM_PGTABLE_WALK_SHARED;

	/* ... memcache top-up, vma lookup, vma_shift / gfn computation elided ... */

	mmu_seq = vcpu->kvm->mmu_invalidate_seq;
	mmap_read_unlock(current->mm);

	pfn = __kvm_faultin_pfn(memslot, gfn, write_fault ? FOLL_WRITE : 0,
				&writable, &page);
	if (pfn == KVM_PFN_ERR_HWPOISON) {
		kvm_send_hwpoison_signal(hva, vma_shift);
		return 0;
	}
	if (is_error_noslot_pfn(pfn))
		return -EFAULT;

	/*
	 * Check if this is non-struct page memory PFN, and cannot support
	 * CMOs. It could potentially be unsafe to access as cachable.
	 */
	if (vm_flags & (VM_PFNMAP | VM_MIXEDMAP) && !pfn_is_map_memory(pfn)) {
		if (is_vma_cacheable) {
			if (!kvm_supports_cacheable_pfnmap())
				ret = -EFAULT;
		} else {
			s2_force_noncacheable = true;
		}
	} else if (logging_active && !write_fault) {
		/*
		 * Only actually map the page as writable if this was a write
		 * fault.
		 */
		writable = false;
	}

	if (exec_fault && s2_force_noncacheable)
		ret = -ENOEXEC;

	if (ret)
		goto out_put_page;

	/*
	 * Guest performs atomic/exclusive operations on memory with unsupported
	 * attributes (e.g. ld64b/st64b on normal memory when no FEAT_LS64WB)
	 * and trigger the exception here. Since the memslot is valid, inject
	 * the fault back to the guest.
	 */
	if (esr_fsc_is_excl_atomic_fault(kvm_vcpu_get_esr(vcpu))) {
		kvm_inject_dabt_excl_atomic(vcpu, kvm_vcpu_get_hfar(vcpu));
		ret = 1;
		goto out_put_page;
	}

	if (nested)
		adjust_nested_fault_perms(nested, &prot, &writable);

	kvm_fault_lock(kvm);
	pgt = vcpu->arch.hw_mmu->pgt;
	if (mmu_invalidate_retry(kvm, mmu_seq)) {
		ret = -EAGAIN;
		goto out_unlock;
	}

	/* ... THP adjust, MTE sanitise, prot computation, stage-2 map elided ... */

out_unlock:
	kvm_release_faultin_page(kvm, page, !!ret, writable);
	kvm_fault_unlock(kvm);

	/* Mark the page dirty only if the fault is handled successfully */
	if (writable && !ret)
		mark_page_dirty_in_slot(kvm, memslot, gfn);

	return ret != -EAGAIN ? ret : 0;

out_put_page:
	kvm_release_page_unused(page);
	return ret;
}
